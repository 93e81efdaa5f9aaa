//go:build linux

package bench

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/holdover/holdover/internal/ical"
	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/calsync"
)

// BenchmarkCalLsMonth is the in-process part of `holdover cal ls` of a
// month over the 5,000 generated events of bench/calendar.sh: the store
// query and the expansion of every object's recurrences, as
// cmd/holdover's occurrences does (without its sorting and JSON). The
// whole process (start, opening the store) is measured by
// bench/calendar.sh. Run it with
//
//	go test -tags sqlite_fts5 -run '^$' -bench CalLsMonth ./bench/
func BenchmarkCalLsMonth(b *testing.B) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "holdover.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.EnsureAccounts(ctx, []string{"bench"}); err != nil {
		b.Fatal(err)
	}
	g := newCalGen(10)
	err = db.Write(ctx, func(tx *store.Tx) error {
		ids := map[string]int64{}
		for _, c := range benchCalendars {
			id, err := tx.UpsertCalendar(ctx, store.Calendar{Account: "bench", Href: "/bench/" + c.Name + "/", Name: c.Name})
			if err != nil {
				return err
			}
			ids[c.Name] = id
		}
		for i := 0; i < 5000; i++ {
			e := g.event()
			if _, err := tx.StoreServerObject(ctx, ids[e.Calendar], "/bench/"+e.Calendar+"/"+e.File(), `"1"`, e.Data, calsync.Fields(e.Data)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	from := time.Date(calYear, 6, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 1, 0)
	var objects, occurrences int
	for b.Loop() {
		// Widened like cmd/holdover's occurrences (all-day and floating
		// times are stored as their wall clock in UTC).
		objs, err := db.CalObjectsInRange(ctx, store.CalRange{Account: "bench", From: from.Add(-14 * time.Hour), To: to.Add(14 * time.Hour)})
		if err != nil {
			b.Fatal(err)
		}
		objects, occurrences = len(objs), 0
		for _, o := range objs {
			occ, _, err := ical.Expand(o.Data, from, to, time.UTC)
			if err != nil {
				b.Fatal(err)
			}
			occurrences += len(occ)
		}
	}
	b.ReportMetric(float64(objects), "objects")
	b.ReportMetric(float64(occurrences), "occurrences")
}
