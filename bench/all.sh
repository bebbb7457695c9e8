#!/usr/bin/env bash
# Every benchmark of docs/PERFORMANCE.md, run against two commits in the same run, and ONE Markdown
# table: benchmark, measure, before, after, after/before (docs/PERFORMANCE.md "Before/after in one run").
#
#   bench/all.sh [BEFORE]          # BEFORE: a commit (default 184b74b, where issue 15's work started)
#   MODE=full bench/all.sh         # each script's defaults (hours); MODE=quick (default): ≤ ~20 min
#   SKIP=lxd,density,web bench/all.sh   ONLY=api,inproc bench/all.sh
#   bench/all.sh --table DIR       # the table again from the raw outputs a run kept in KEEP=DIR
#
# AFTER is the current tree (its commit, "+dirty" when it has changes). BEFORE is exported with
# `git archive` into a temp dir (the repo is never modified); both binaries are built the way `make
# build` does. Benchmarks that measure a binary run the AFTER tree's harness with each binary (-build=false
# -deskhub BINARY, DESKHUB=BINARY); benchmarks that are Go tests of the code (testing.B) run in each tree
# — a test package missing in BEFORE gets AFTER's copy of it when it compiles there (test/lists), else
# the before cell says "n/a: added in <commit>". Before and after of one benchmark run back to back, the
# order alternating from one benchmark to the next. Progress on stderr, the table on stdout; raw
# outputs are kept in KEEP=DIR when set. Needs root (desktops run as their accounts' Unix users), the
# X packages, LXD (scripts/lxd.sh; the LXD test binaries wait for /run/lock/deskhub-lxdtest.lock),
# Chromium (scripts/browser-deps.sh) and PostgreSQL (scripts/pgtest.sh) for the benchmarks that use them.
#
# Benchmarks (names for SKIP/ONLY): api inproc auth logins sessions relay agent rss infra lists web
# density images imagebuild lxd. QUICK skips imagebuild (a cold image build per side: minutes).
{ # the whole script is read before it runs: editing it meanwhile does not affect a run
set -euo pipefail
# table DIR: the table, from the raw outputs of a run (DIR/meta: commits, mode, times, loads, order).
table() {
	python3 - "$1" <<'PY'
import os, re, sys

raw = sys.argv[1]
with open(os.path.join(raw, "meta"), encoding="utf-8") as f:
    before, after, mode, started, ended, load0, load1, order = f.read().split("\n")[:8]
order = order.split()

def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""

def cells(line):
    return [c.strip().replace("**", "") for c in line.strip().strip("|").split("|")]

# How many leading columns of a table name the row, by the table's first header cell (default 1).
LABELS = {"store": 3, "geometry": 2}

def measures(text):
    """(measure, value) pairs from a benchmark's output: Go benchmark lines, FIGURE lines, Markdown tables."""
    out, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        s = line.strip()
        m = re.match(r"^(Benchmark\S+)\s+\d+\s+(.*)$", s)
        if m:
            name = re.sub(r"-\d+$", "", m.group(1))
            f = m.group(2).split()
            pairs = list(zip(f[0::2], f[1::2]))
            # With figures of its own (p50-ms, req/s…) a benchmark's ns/op, B/op and allocs/op are those of
            # its whole loop, not of one call: left out.
            if any(u not in ("ns/op", "B/op", "allocs/op", "MB/s") for _, u in pairs):
                pairs = [(v, u) for v, u in pairs if u not in ("ns/op", "B/op", "allocs/op")]
            for v, unit in pairs:
                out.append((f"{name} {unit}", v))
            continue
        if s.startswith("FIGURE "):
            # FIGURE <what>: n=3 p50=618ms p95=… [words k=v unit]…: one measure per k=v (not n, min, max), named by
            # <what> and the words before it; a unit after a value belongs to it.
            body = s[len("FIGURE "):]
            pairs = list(re.finditer(r"(?:^|\s)([A-Za-z][\w.\-/]*)=(\S+)", body))
            if not pairs:
                label, _, v = body.rpartition(":")
                out.append((label.strip(), v.strip()))
                continue
            label = body[:pairs[0].start()].strip().rstrip(":")
            for x, p in enumerate(pairs):
                k, v = p.group(1), p.group(2).rstrip(",;")
                after = body[p.end():pairs[x + 1].start() if x + 1 < len(pairs) else len(body)]
                unit = re.match(r"\s*(MiB|KiB|GiB|ms|µs|s|%)(?=[\s,;]|$)", after)
                if unit:
                    v += " " + unit.group(1)
                    after = after[unit.end():]
                before_words = body[pairs[x - 1].end():p.start()] if x else ""
                before_words = re.sub(r"\([^)]*\)|^\s*(MiB|KiB|GiB|ms|µs|s|%)\b|[,;]", " ", before_words)
                words = " ".join(before_words.split())
                if k not in ("n", "min", "max"):
                    out.append((" ".join(w for w in (label, words, k) if w), v))
            continue
        if s.startswith("|") and i + 1 < len(lines) and re.match(r"^\|[\s|:-]+\|$", lines[i + 1].strip()):
            head, L = cells(s), LABELS.get(cells(s)[0], 1)
            j = i + 2
            while j < len(lines) and lines[j].strip().startswith("|"):
                row = cells(lines[j])
                label = " / ".join(c for c in row[:L] if c)
                # A figure in a row's name, "after 2000 API calls (8300 calls/s)", is a measure of its own.
                fig = re.search(r"\s*\(([0-9][0-9.]*) ([^()]*)\)", label)
                if fig:
                    label = label[:fig.start()] + label[fig.end():]
                    out.append((f"{label}: {fig.group(2)}", fig.group(1)))
                for k in range(L, min(len(row), len(head))):
                    col = head[k]
                    if col == "notes":
                        continue
                    key = label if col in ("value", "") and len(head) == L + 1 else f"{label}: {col}"
                    out.append((key, row[k]))
                j += 1
    seen, uniq = {}, []
    for k, v in out:  # a repeated measure (go test -count N) gets #2, #3…
        seen[k] = seen.get(k, 0) + 1
        uniq.append((k if seen[k] == 1 else f"{k} #{seen[k]}", v))
    return uniq

SCALE = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1, "min": 60,
         "B": 1, "KiB": 1024, "MiB": 1 << 20, "GiB": 1 << 30, "KB": 1e3, "MB": 1e6, "GB": 1e9}
DIM = {u: ("t" if u in ("ns", "µs", "us", "ms", "s", "min") else "b") for u in SCALE}

def number(part):
    m = re.match(r"^~?([0-9][0-9 ]*(?:\.[0-9]+)?)\s*([^\s(]*)", part.strip())
    if not m:
        return None
    v = float(m.group(1).replace(" ", ""))
    u = m.group(2).rstrip(",;")
    if u in SCALE:
        return v * SCALE[u], DIM[u]
    return v, u

def parts(cell):
    """The numbers of a cell: "a / b" and "a; b" are two, "a + b" (user + system) is their sum."""
    out = []
    for p in re.split(r"\s+/\s+|;\s+", cell):
        if " + " in p:
            ns = [number(x) for x in p.split(" + ")]
            if all(ns) and len({n[1] for n in ns}) == 1:
                p = f"{sum(n[0] for n in ns)} {ns[0][1]}".strip()
        if p:
            out.append(p)
    return out

def ratio(b, a):
    pb, pa = parts(b), parts(a)
    if not pb or len(pb) != len(pa):
        return ""
    rs = []
    for x, y in zip(pb, pa):
        nx, ny = number(x), number(y)
        if not nx or not ny or nx[1] != ny[1]:
            return ""
        if nx[0] == 0:
            rs.append("—" if ny[0] == 0 else "∞")
        else:
            rs.append(f"{ny[0] / nx[0]:.2f}")
    return " / ".join(rs)

def status(name, side):
    return read(os.path.join(raw, f"{name}.{side}.status")).strip() or "not run"

def notes(name, side):
    out = []
    for line in read(os.path.join(raw, f"{name}.{side}.notes")).splitlines():
        rx, _, reason = line.partition("\t")
        out.append((re.compile(rx), reason))
    return out

def esc(s):
    return s.replace("|", "/").replace("\n", " ")

print(f"before **{before}**, after **{after}**; {mode} mode; {started} → {ended}; "
      f"{os.cpu_count()} CPUs; load average {load0} at the start, {load1} at the end")
print()
print(f"| benchmark | measure | before {before} | after {after} | after/before |")
print("|---|---|---|---|---|")
loads = []
for name in order:
    sides = ("before", "after")
    st = {s: status(name, s) for s in sides}
    m = {s: measures(read(os.path.join(raw, f"{name}.{s}.txt"))) for s in sides}
    nt = {s: notes(name, s) for s in sides}
    loads.append(f"{name} {read(os.path.join(raw, f'{name}.before.load')).split(' ', 1)[-1].strip()} / "
                 f"{read(os.path.join(raw, f'{name}.after.load')).split(' ', 1)[-1].strip()}")
    d = {s: dict(m[s]) for s in sides}
    # A row named after a figure of the run ("Windows(), 101 windows") pairs with the other side's row
    # of the same name but for its numbers, when there is exactly one such.
    norm = lambda k: re.sub(r"[0-9]+", "N", k)
    for s, o in (("before", "after"), ("after", "before")):
        for k in [k for k in d[s] if k not in d[o]]:
            cand = [c for c in d[o] if c not in d[s] and norm(c) == norm(k)]
            if len(cand) == 1 and s == "before":
                d[s][cand[0]] = d[s].pop(k)
                m[s] = [(cand[0] if x == k else x, v) for x, v in m[s]]
    keys = [k for k, _ in m["after"]] + [k for k, _ in m["before"] if k not in d["after"]]
    if st["before"] != "ok" or st["after"] != "ok" or not keys:
        print(f"| {name} | (run) | {esc(st['before'])} | {esc(st['after'])} | |")

    def cell(s, k):
        if k in d[s]:
            return d[s][k]
        for rx, reason in nt[s]:
            if rx.match(k):
                return reason
        return "—" if st[s] == "ok" else st[s]
    for k in keys:
        b, a = cell("before", k), cell("after", k)
        if (b, a) in (("—", "—"), ("0", "0"), ("", "")):  # nothing measured, or no errors either side
            continue
        print(f"| {name} | {esc(k)} | {esc(b)} | {esc(a)} | {ratio(b, a)} |")
harness = [f"{n}: {read(os.path.join(raw, f'{n}.before.harness')).strip()}" for n in order
           if read(os.path.join(raw, f"{n}.before.harness")).strip()]
if harness:
    print()
    print(f"Test code of {after} run in the {before} tree: " + "; ".join(harness))
print()
print("load average (1/5/15 min) when each benchmark's before / after run started: " + "; ".join(loads))
PY
}
if [ "${1:-}" = --table ]; then # bench/all.sh --table DIR: the table again from KEEP=DIR of a run
	table "$2"
	exit
fi
cd "$(dirname "$0")/.."
root=$PWD
export PATH="/usr/local/go/bin:$PATH"
BEFORE=${1:-${BEFORE:-184b74b}}
MODE=${MODE:-quick}
case $MODE in quick | full) ;; *) echo "MODE must be quick or full" >&2; exit 2 ;; esac
[ "$MODE" = quick ] && SKIP="${SKIP:+$SKIP,}imagebuild"
before=$(git rev-parse --short "$BEFORE^{commit}")
after=$(git rev-parse --short HEAD)
git diff --quiet HEAD -- || after="$after+dirty"
q() { if [ "$MODE" = quick ]; then echo "$1"; else echo "$2"; fi; } # q QUICK FULL

work=$(mktemp -d /var/tmp/deskhub-benchall.XXXXXX)
chmod 755 "$work"
cleanup() {
	if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp -r "$work/raw/." "$KEEP/"; fi
	rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/raw" "$work/before" "$work/bin"
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
log() { echo "bench/all.sh $(date -u +%T) [load $(loadavg)] $*" >&2; }
load_start=$(loadavg)
started=$(date -u +%FT%TZ)

log "mode $MODE; before $before, after $after; work dir $work"
git archive "$before" | tar -x -C "$work/before"
build() { # TREE OUT COMMIT: the binary as `make build` makes it
	(cd "$1" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/deskhub/deskhub/internal/buildinfo.version=$3 -X github.com/deskhub/deskhub/internal/buildinfo.commit=$3" -o "$2" ./cmd/deskhub)
}
log "building deskhub $before"
build "$work/before" "$work/bin/deskhub-before" "$before"
log "building deskhub $after"
build "$root" "$work/bin/deskhub-after" "$after"

# added PATH: the commit after BEFORE that added PATH (for "n/a: added in <commit>").
added() { git -C "$root" log --diff-filter=A --format=%h "$before..HEAD" -- "$1" | tail -n 1; }
# has SIDE PATH: whether SIDE's tree has PATH.
has() { if [ "$1" = after ]; then [ -e "$root/$2" ]; else [ -e "$work/before/$2" ]; fi; }

order=()  # benchmarks in the order they ran
n=0
wanted() { [[ ",${ONLY:-$1}," == *",$1,"* && ",${SKIP:-}," != *",$1,"* ]]; }
# bench NAME FUNCTION [lxd-lock]: runs FUNCTION SIDE for both sides, back to back, in alternating
# order. FUNCTION runs in a subshell (set -e) with TREE (the side's tree), BIN (its binary), AFTER_TREE
# and SIDE set; its stdout is the raw output, its stderr the log; `na REASON` says it cannot run, `note`
# (below) that part of it cannot. lxd-lock: its test binaries wait for the LXD test lock (said on the
# progress log when another run holds it). The figures of a failed run are kept (its status gets a row).
bench() {
	local name=$1 fn=$2 uses_lxd=${3:-} side sides
	wanted "$name" || { log "$name: skipped"; return 0; }
	order+=("$name")
	if ((n++ % 2)); then sides="after before"; else sides="before after"; fi
	for side in $sides; do
		local out="$work/raw/$name.$side" t0=$SECONDS rc=0 tree=$root
		[ "$side" = before ] && tree=$work/before
		log "$name: $side…"
		# LXD test binaries (internal/server's among them) wait for this lock; a `make test` may hold it.
		[ -z "$uses_lxd" ] || flock -n /run/lock/deskhub-lxdtest.lock true 2>/dev/null ||
			log "$name: /run/lock/deskhub-lxdtest.lock is held by another run; an LXD test binary waits for it"
		echo "load $(loadavg)" >"$out.load"
		set +e
		(
			set -e
			cd "$tree"
			TREE=$tree BIN=$work/bin/deskhub-$side AFTER_TREE=$root SIDE=$side NOTES=$out.notes HARNESS=$out.harness "$fn" "$side"
		) >"$out.txt" 2>"$out.err" 3>"$out.na"
		rc=$?
		set -e
		if [ -s "$out.na" ]; then
			cp "$out.na" "$out.status"
		elif [ "$rc" = 0 ]; then
			echo ok >"$out.status"
		else
			local why
			why=$(grep -iE 'error|fail|fatal|panic|timed? ?out' "$out.err" | grep -v '^\s*$' | tail -n 1)
			[ -n "$why" ] || why=$(grep -v '^\s*$' "$out.err" | tail -n 1)
			echo "failed (exit $rc): $(echo "$why" | cut -c1-160 | tr '|' '/')" >"$out.status"
		fi
		log "$name: $side done in $((SECONDS - t0)) s: $(cat "$out.status")"
	done
}
na() { echo "n/a: $*" >&3; exit 0; }
# note REGEX REASON: measures matching REGEX (Python re, from the start) that this side lacks get REASON.
note() { printf '%s\t%s\n' "$1" "$2" >>"$NOTES"; }
# gotest PKG ARGS…: go test of PKG in the side's tree. When BEFORE does not have PKG it gets AFTER's
# copy, and if that does not compile, also the files AFTER added to the test helper packages PKG
# imports (the module's packages that are not part of the deskhub binary: never the code measured);
# still not compiling, the benchmark is n/a there. What was copied is said below the table.
gotest() {
	local pkg=$1 dep f copied
	shift
	if [ "$SIDE" = before ] && [ ! -d "$pkg" ]; then
		cp -r "$AFTER_TREE/$pkg" "$pkg"
		copied="$pkg/ of $after"
		if ! go vet "./$pkg" >&2 2>/dev/null; then
			local binary
			binary=$(cd "$AFTER_TREE" && go list -deps -f '{{if not .Standard}}{{.Dir}}{{end}}' ./cmd/deskhub)
			for dep in $(cd "$AFTER_TREE" && go list -test -deps -f '{{if not .Standard}}{{.Dir}}{{end}}' "./$pkg"); do
				grep -qxF "$dep" <<<"$binary" && continue
				dep=${dep#"$AFTER_TREE"/}
				[ -d "$dep" ] && [ "$dep" != "$pkg" ] || continue
				for f in "$AFTER_TREE/$dep"/*.go; do
					[ -e "$dep/${f##*/}" ] || { cp "$f" "$dep/" && copied="$copied, $dep/${f##*/}"; }
				done
			done
			go vet "./$pkg" >&2 || na "added in $(added "$pkg"); $after's copy does not compile here"
		fi
		echo "$copied" >"$HARNESS"
	fi
	go test -count=1 -run '^$' "$@" "./$pkg"
}
lxd_up() { scripts/lxd.sh start >&2; }

b_api() { DESKHUB=$BIN DURATION=$(q 2s 10s) "$AFTER_TREE/bench/run.sh"; }
b_inproc() {
	gotest internal/server -bench 'HealthAlive|ConfigGet|HealthReadySQLite|FastXConfigGET|RejectMalformed|UnknownRoute' \
		-benchtime "$(q 0.5s 1s)" -count "$(q 1 3)"
}
b_auth() {
	if [ "$MODE" = quick ]; then
		gotest internal/auth -bench 'HashPassword|VerifyPassword|TokenVerify|LoginLocal' -benchtime 1s
	else
		gotest internal/auth -bench . -benchtime 2s
	fi
}
b_logins() {
	"$AFTER_TREE/bench/logins/run.sh" -build=false -deskhub "$BIN" \
		$(q "-users 20 -idle 5 -desktops 2 -flood 50 -rounds 2" "")
}
b_sessions() {
	"$AFTER_TREE/bench/sessions/run.sh" -build=false -deskhub "$BIN" \
		$(q "-n 5 -idle 2 -shots 5 -rows 200 -d 2s -budget 60s" "")
}
b_relay() {
	has "$SIDE" bench/relay/run.sh || na "added in $(added bench/relay/run.sh)"
	bench/relay/run.sh $(q "-mb 128 -echoes 1000" "")
}
b_agent() { has "$SIDE" bench/agent/run.sh || na "added in $(added bench/agent/run.sh)"; bench/agent/run.sh; }
b_rss() {
	"$AFTER_TREE/bench/rss/run.sh" -build=false -deskhub "$BIN" $(q "-logins 10 -desktops 3 -calls 2000" "")
}
b_infra() { has "$SIDE" bench/infra/run.sh || na "added in $(added bench/infra/run.sh)"; COUNT=$(q 3 20) bench/infra/run.sh; }
b_lists() {
	if [ "$MODE" = quick ]; then
		DESKHUB_BENCH_LOAD=1s gotest test/lists -bench 'Lists/sqlite/^(1000|1000x20)$' -benchtime 1x -timeout 20m
	else
		eval "$(scripts/pgtest.sh start $$)"
		trap 'scripts/pgtest.sh stop $$ >/dev/null 2>&1 || true' EXIT
		gotest test/lists -bench Lists -benchtime 1x -timeout 120m
	fi
}
b_web() {
	local args
	args=$(q "LOADS=2 STARTS=3 KEYS=10 AUDIO=3" "")
	# web.mjs prints its table at the end: when the sound part fails (a binary from before the sound
	# websocket), the rest is measured again without it.
	DESKHUB=$BIN "$AFTER_TREE/bench/web/run.sh" $args 2>"$NOTES.web" && { cat "$NOTES.web" >&2; return 0; }
	cat "$NOTES.web" >&2
	grep -q 'audio:' "$NOTES.web" || return 1
	note '(?i)tone' "failed: $(grep -m1 -o 'audio: .*' "$NOTES.web" | cut -c1-120)"
	DESKHUB=$BIN "$AFTER_TREE/bench/web/run.sh" $args MEASURE=load,start,key
}
b_density() {
	"$AFTER_TREE/bench/density/run.sh" -build=false -deskhub "$BIN" \
		$(q "-n 10 -xpra 2 -cpu 5s -calls 20 -budget 8m" "")
}
b_images() {
	has "$SIDE" test/images/index_bench_test.go || na "added in $(added test/images/index_bench_test.go)"
	if [ "$MODE" = quick ]; then
		gotest test/images -bench Index100 -benchtime 50x
	else
		gotest test/images -bench Index100 -benchtime 300x
		lxd_up
		DESKHUB_REQUIRE_LXD=1 gotest test/images -bench Pull -benchtime 3x -timeout 60m
	fi
}
b_imagebuild() { DESKHUB=$BIN "$AFTER_TREE/bench/image-build.sh"; }
b_lxd() {
	lxd_up
	local rc=0
	if grep -q 'func BenchmarkDesktopStarts' test/lxddesktop/*.go; then
		STARTS=$(q 3 20) BENCH=$(q 'BenchmarkDesktopStarts/(lxd-cold-base-exec|lxd-warm|local|xpra)$' BenchmarkDesktopStarts) \
			bench/lxd/run.sh || rc=$?
	else
		note '(?!BenchmarkLXD(Start|Thaw))' "n/a: added in $(added test/lxddesktop/bench_test.go)"
	fi
	local thaw=Thaw
	if ! grep -q 'func BenchmarkLXDThaw' test/lxddesktop/*.go; then
		thaw=
		note BenchmarkLXDThaw "n/a: added in $(added test/lxddesktop/freeze_test.go)"
	fi
	if [ "$MODE" = quick ]; then # one test binary (one LXD set-up, one wait for the lock) for both
		DESKHUB_REQUIRE_LXD=1 go test -count=1 ./test/lxddesktop/ -run '^$' -bench "^BenchmarkLXD(Start${thaw:+|$thaw})\$" \
			-benchtime 2x -timeout 60m || rc=$?
	else
		DESKHUB_REQUIRE_LXD=1 go test -count=1 ./test/lxddesktop/ -run '^$' -bench '^BenchmarkLXDStart$' -benchtime 6x -timeout 60m || rc=$?
		[ -z "$thaw" ] || DESKHUB_REQUIRE_LXD=1 go test -count=1 ./test/lxddesktop/ -run '^$' -bench '^BenchmarkLXDThaw$' \
			-benchtime 25x -timeout 60m || rc=$?
	fi
	return $rc
}

bench api b_api
bench inproc b_inproc lxd-lock
bench auth b_auth
bench logins b_logins
bench sessions b_sessions
bench relay b_relay
bench agent b_agent
bench rss b_rss
bench lists b_lists
bench images b_images lxd-lock
bench infra b_infra lxd-lock
bench lxd b_lxd lxd-lock
bench density b_density
bench web b_web
bench imagebuild b_imagebuild

log "done; building the table"
printf '%s\n' "$before" "$after" "$MODE" "$started" "$(date -u +%FT%TZ)" "$load_start" "$(loadavg)" "${order[*]}" >"$work/raw/meta"
table "$work/raw"
exit
}
