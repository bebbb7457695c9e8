package migrate_test

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/deskhub/deskhub/internal/store/migrate"
	"github.com/deskhub/deskhub/internal/store/postgres"
	"github.com/deskhub/deskhub/internal/store/sqlite"
)

// TestSameVersions asserts both backends carry the same migration numbers.
func TestSameVersions(t *testing.T) {
	lite, err := migrate.Versions(sqlite.Migrations())
	if err != nil {
		t.Fatal(err)
	}
	pg, err := migrate.Versions(postgres.Migrations())
	if err != nil {
		t.Fatal(err)
	}
	if len(lite) == 0 || !slices.Equal(lite, pg) {
		t.Fatalf("migration versions differ: sqlite %v, postgres %v", lite, pg)
	}
}

func TestLoad(t *testing.T) {
	ms, err := migrate.Load(fstest.MapFS{
		"0002_more.sql": {Data: []byte("B")},
		"0001_init.sql": {Data: []byte("A")},
		"README.md":     {Data: []byte("ignored")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Version != 1 || ms[0].SQL != "A" || ms[1].Version != 2 {
		t.Fatalf("Load: %+v", ms)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"duplicate": {"0001_a.sql": {}, "1_b.sql": {}},
		"no number": {"init.sql": {}},
		"zero":      {"0000_x.sql": {}},
	} {
		if _, err := migrate.Load(fsys); err == nil || !strings.HasPrefix(err.Error(), "migrate: ") {
			t.Errorf("%s: Load error = %v", name, err)
		}
	}
}
