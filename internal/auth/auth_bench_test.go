package auth

// Benchmarks of the account security paths; figures and their reading are in docs/PERFORMANCE.md.
//
//	go test -run '^$' -bench . -benchtime 2s ./internal/auth/

import (
	"context"
	"crypto/rand"
	"fmt"
	"math"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/deskhub/deskhub/internal/store"
	"github.com/deskhub/deskhub/internal/store/sqlite"
)

const benchPassword = "correct horse battery staple"

// reportCost adds ms/op and the memory-hardness product (MiB·s per hash: what one guess costs an
// attacker in memory held over time) to a benchmark of one argon2id hash per op.
func reportCost(b *testing.B, memKiB uint32) {
	perOp := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(perOp*1e3, "ms/op")
	b.ReportMetric(float64(memKiB)/1024*perOp, "MiB*s/op")
}

// BenchmarkHashPassword: HashPassword as configured (argon2id t=3, m=64 MiB, p=2): account creation
// and password changes.
func BenchmarkHashPassword(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := HashPassword(benchPassword); err != nil {
			b.Fatal(err)
		}
	}
	reportCost(b, argonMemory)
}

// BenchmarkVerifyPassword: VerifyPassword as configured: the cost of every password login.
func BenchmarkVerifyPassword(b *testing.B) {
	h, err := HashPassword(benchPassword)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifyPassword(h, benchPassword); err != nil {
			b.Fatal(err)
		}
	}
	reportCost(b, argonMemory)
}

// argonChoices are the argon2id parameter sets weighed against ours, measured in the same run.
var argonChoices = []struct {
	name    string
	time    uint32
	memKiB  uint32
	threads uint8
}{
	{"ours_t3_m64MiB_p2", argonTime, argonMemory, argonThreads},
	{"RFC9106-second_t3_m64MiB_p4", 3, 64 * 1024, 4},
	{"t1_m64MiB_p4", 1, 64 * 1024, 4},
	{"OWASP_t2_m19MiB_p1", 2, 19 * 1024, 1},
	{"OWASP_t1_m46MiB_p1", 1, 46 * 1024, 1},
	{"RFC9106-first_t1_m2GiB_p4", 1, 2 * 1024 * 1024, 4},
}

// BenchmarkArgon2idChoices: one argon2id derivation (= one hash or one verification) per op for each
// parameter set, serial (latency of one login) and in parallel on every core (login throughput).
func BenchmarkArgon2idChoices(b *testing.B) {
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt)
	for _, c := range argonChoices {
		b.Run(c.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				argon2.IDKey([]byte(benchPassword), salt, c.time, c.memKiB, c.threads, argonKeyLen)
			}
			reportCost(b, c.memKiB)
		})
		if c.memKiB > 256*1024 {
			continue // two 2 GiB derivations at once prove nothing more
		}
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					argon2.IDKey([]byte(benchPassword), salt, c.time, c.memKiB, c.threads, argonKeyLen)
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
		})
	}
}

// benchStore opens a real SQLite store in a temporary directory with one local account.
func benchStore(b *testing.B) (store.Store, store.User) {
	b.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, b.TempDir()+"/deskhub.db", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	// Some neighbours, so that lookups go through real indexes rather than a one-row table.
	for i := range 200 {
		u := store.User{Login: fmt.Sprintf("user%03d", i), Email: fmt.Sprintf("user%03d@example.org", i),
			PasswordHash: dummyHash, Provider: store.ProviderLocal}
		if err := st.CreateUser(ctx, &u); err != nil {
			b.Fatal(err)
		}
	}
	u, err := NewLocalUser("alice", "alice@example.org", benchPassword, false)
	if err != nil {
		b.Fatal(err)
	}
	if err := st.CreateUser(ctx, &u); err != nil {
		b.Fatal(err)
	}
	return st, u
}

// BenchmarkTokenVerify: Service.Verify per API request on SQLite: SHA-256 of the secret, one lookup by
// the unique hash index, one user lookup by primary key (the last-use write happens once a minute).
func BenchmarkTokenVerify(b *testing.B) {
	st, u := benchStore(b)
	ctx := context.Background()
	svc := New(Options{Store: st})
	for i := range 1000 { // other users' tokens fill the index
		if _, _, err := svc.IssueToken(ctx, nil, u.ID-1-int64(i%200), store.TokenUserLogin, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	secret, _, err := svc.IssueToken(ctx, nil, u.ID, store.TokenUserLogin, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := svc.Verify(ctx, secret); err != nil { // records the use: the loop measures reads only
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := svc.Verify(ctx, secret); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := svc.Verify(ctx, secret); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
	})
	b.Run("unknown", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := svc.Verify(ctx, "dh_not-a-token-that-exists-anywhere-at-all"); err == nil {
				b.Fatal("unknown token accepted")
			}
		}
	})
}

// BenchmarkLoginLocal: CheckLoginPassword end to end for a local account on SQLite (throttle check,
// user lookup, argon2id verification): serial latency and parallel throughput on every core. The
// "unknown" case shows that a missing account costs the same (dummy hash).
func BenchmarkLoginLocal(b *testing.B) {
	st, _ := benchStore(b)
	ctx := context.Background()
	// The throttle would turn failures into cheap 429s after 5 tries; the benchmark measures the check.
	svc := New(Options{Store: st, Throttle: ThrottleOptions{Free: math.MaxInt32}})
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := svc.CheckLoginPassword(ctx, "alice", benchPassword, "192.0.2.1"); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/op")
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(1) // one goroutine per core (GOMAXPROCS)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := svc.CheckLoginPassword(ctx, "alice", benchPassword, "192.0.2.1"); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
	})
	b.Run("unknown", func(b *testing.B) {
		for b.Loop() {
			if _, err := svc.CheckLoginPassword(ctx, "nobody", benchPassword, "192.0.2.1"); err == nil {
				b.Fatal("unknown account logged in")
			}
		}
		b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/op")
	})
}
