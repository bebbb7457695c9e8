#!/usr/bin/env bash
# make test: formatting, vet, then every test on SQLite and on a throwaway PostgreSQL server that this
# script installs (Debian package) and starts. Idempotent; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

step() { printf '\n== %s\n' "$*"; }

step "gofmt"
bad=$(gofmt -l $(git ls-files -co --exclude-standard '*.go' 2>/dev/null || find . -name '*.go' -not -path '*/node_modules/*'))
if [ -n "$bad" ]; then
  echo "gofmt would change these files (run: gofmt -w .):"; echo "$bad"; exit 1
fi
echo "ok"

step "go vet"
go vet ./...
go vet -tags uivmm ./test/browser/ # the ui-vmm panel test, built only with its files (below)
echo "ok"

step "system dependencies (Debian packages, Chromium, playwright-core, the desktop image's packages)"
scripts/deps.sh
scripts/image-cache.sh # the image build tests run offline from this cache
echo "ok"

step "web app: type-check, rebuild, compare with the committed web/app/dist"
scripts/web-app.sh check

step "PostgreSQL (throwaway cluster)"
eval "$(scripts/pgtest.sh start $$)"
trap 'scripts/pgtest.sh stop $$ >/dev/null 2>&1 || true' EXIT
export DESKHUB_REQUIRE_POSTGRES=1
echo "DESKHUB_TEST_POSTGRES=${DESKHUB_TEST_POSTGRES}"

step "LXD daemon"
scripts/lxd.sh start
export DESKHUB_REQUIRE_LXD=1
echo "ok"

step "go test"
go build -o bin/testsummary ./tools/testsummary
set +e
# Every test; then, again under the race detector, the concurrent infrastructure code: the event hub,
# the LXD service, and the broker's tests on the real LXD daemon (operations, watchers and streams run
# side by side there). One summary counts the distinct tests of all three runs (a rerun counts once,
# failed if it failed in any run); the marker lines tell it where each run starts and how go test exited,
# so a run that executed no test fails. A skip fails too, unless .ci/skip-allowlist lists it.
gotest() {
  echo "testsummary: run $1"; shift
  go test -json "$@" 2>&1
  echo "testsummary: exit $?"
}
{
  gotest "all packages" -count=1 -timeout 45m ./...
  gotest "race: events, infra, lxdconn" -count=1 -race -timeout 10m ./internal/events/ ./internal/infra/ ./internal/lxdconn/
  gotest "race: server TestLXD|TestEventStream" -count=1 -race -timeout 10m -run 'TestLXD|TestEventStream' ./internal/server/
  # ui-vmm's own panel in Chromium: its files carry no licence, so they are not in the repository; the
  # test exists (build tag uivmm) and runs only when DESKHUB_UIVMM_DEMO names a copy of them.
  if [ -n "${DESKHUB_UIVMM_DEMO:-}" ]; then
    gotest "ui-vmm panel (DESKHUB_UIVMM_DEMO)" -count=1 -tags uivmm -timeout 15m -run TestUIVMMPanel ./test/browser/
  else
    echo "NOT RUN: TestUIVMMPanel (ui-vmm's own panel in Chromium): DESKHUB_UIVMM_DEMO names no copy of the ui-vmm/demo repository" >&2
  fi
} | bin/testsummary -skips .ci/skip-allowlist
status=${PIPESTATUS[1]}
set -e
exit "$status"
