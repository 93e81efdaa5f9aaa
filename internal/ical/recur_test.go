package ical

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Each of these rules hangs, panics or misreads in rrule-go v1.8.2 when
// used directly; through this package each gives an answer at once.
func TestRRuleGoGapsAreGuarded(t *testing.T) {
	cases := []struct {
		name    string
		rule    string
		want    int    // occurrences in January 2024, DTSTART (Jan 1, 09:00 UTC) included
		warning string // substring of a warning, "" for none
	}{
		{"HOURLY with a BYHOUR the INTERVAL never reaches (hang)", "FREQ=HOURLY;INTERVAL=24;BYHOUR=5", 1, "yields no occurrences"},
		{"MINUTELY with a BYMINUTE the INTERVAL never reaches (hang)", "FREQ=MINUTELY;INTERVAL=60;BYMINUTE=30", 1, "yields no occurrences"},
		{"SECONDLY with a BYSECOND the INTERVAL never reaches (hang)", "FREQ=SECONDLY;INTERVAL=120;BYSECOND=30", 1, "yields no occurrences"},
		{"MONTHLY with BYDAY=-53MO (index out of range)", "FREQ=MONTHLY;BYDAY=-53MO", 1, "yields no occurrences"},
		{"YEARLY with BYMONTH and BYDAY=+53FR (index out of range)", "FREQ=YEARLY;BYMONTH=3;BYDAY=+53FR", 1, "yields no occurrences"},
		{"ordinals past the fifth are dropped, the others kept", "FREQ=MONTHLY;BYDAY=2MO,-53MO", 2, ""},
		{"BYEASTER, not RFC 5545 (index out of range)", "FREQ=YEARLY;BYEASTER=1000", 1, "BYEASTER not supported"},
		{"INTERVAL near 2^63 (overflow)", "FREQ=DAILY;INTERVAL=9223372036854775807", 1, "INTERVAL above"},
		{"filters that never match (a third of a second each)", "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", 1, "yields no occurrences"},
		{"BYSETPOS beyond the set", "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=6", 1, "yields no occurrences"},
		{"lower case and a trailing semicolon (rejected by StrToROption)", "freq=weekly;byday=mo;", 5, ""},
		{"an x-name part (rejected by StrToROption)", "FREQ=WEEKLY;X-NAME=1", 5, "X-NAME not supported"},
		{"DATE UNTIL of a timed series ends with that day (read as midnight UTC)", "FREQ=DAILY;UNTIL=20240105", 5, ""},
		{"floating UNTIL of a UTC series", "FREQ=DAILY;UNTIL=20240103T090000", 3, ""},
		{"COUNT=0 yields nothing", "FREQ=DAILY;COUNT=0", 1, "COUNT=0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := vcal("BEGIN:VEVENT\nUID:r\nDTSTART:20240101T090000Z\nRRULE:" + c.rule + "\nEND:VEVENT")
			done := make(chan struct{})
			var got []Occurrence
			var warns []string
			var err error
			go func() {
				defer close(done)
				got, warns, err = Expand(data, day(time.UTC, 2024, 1, 1), day(time.UTC, 2024, 2, 1), time.UTC)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Expand did not return")
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != c.want {
				t.Errorf("%d occurrences, want %d", len(got), c.want)
			}
			w := strings.Join(warns, "\n")
			if c.warning == "" && w != "" || !strings.Contains(w, c.warning) {
				t.Errorf("warnings %q, want %q", warns, c.warning)
			}
		})
	}
}

// The fast-forwarded iterator must produce exactly what iterating from
// DTSTART produces, from the hint on.
func TestFastForwardProducesWhatIteratingFromDTSTARTDoes(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	rules := []string{
		"FREQ=YEARLY", "FREQ=YEARLY;INTERVAL=3;BYMONTH=2;BYMONTHDAY=29", "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO",
		"FREQ=YEARLY;BYDAY=-1FR;BYMONTH=11", "FREQ=YEARLY;BYYEARDAY=-1,100;BYHOUR=9,17",
		"FREQ=MONTHLY;INTERVAL=5;BYDAY=2TU", "FREQ=MONTHLY;BYMONTHDAY=-1;INTERVAL=7", "FREQ=MONTHLY;BYDAY=MO,TU;BYSETPOS=-1",
		"FREQ=MONTHLY", "FREQ=WEEKLY;INTERVAL=3;BYDAY=SU,WE;WKST=SU", "FREQ=WEEKLY;INTERVAL=2", "FREQ=WEEKLY;INTERVAL=4;WKST=TH",
		"FREQ=DAILY;INTERVAL=9", "FREQ=DAILY;BYMONTH=3,10;INTERVAL=2", "FREQ=DAILY;BYHOUR=1,2,3;BYMINUTE=15,45",
		"FREQ=HOURLY;INTERVAL=7", "FREQ=HOURLY;INTERVAL=5;BYHOUR=1,2,3", "FREQ=HOURLY;BYDAY=SA",
		"FREQ=MINUTELY;INTERVAL=97", "FREQ=MINUTELY;INTERVAL=13;BYHOUR=2", "FREQ=SECONDLY;INTERVAL=7777",
	}
	starts := []time.Time{
		time.Date(2019, 3, 31, 1, 30, 0, 0, berlin), // the night DST begins
		time.Date(2020, 2, 29, 12, 0, 0, 0, time.UTC),
		time.Date(2021, 1, 31, 23, 59, 59, 0, berlin),
		time.Date(2022, 10, 30, 2, 30, 0, 0, berlin),                            // in the hour that happens twice
		time.Date(2023, 9, 2, 23, 45, 0, 0, mustLoad(t, "America/Santiago")),    // DST begins at midnight
		time.Date(2023, 10, 1, 1, 45, 0, 0, mustLoad(t, "Australia/Lord_Howe")), // a 30-minute DST
		time.Date(2011, 12, 28, 10, 0, 0, 0, mustLoad(t, "Pacific/Apia")),       // 2011-12-30 never happened
	}
	hints := []time.Duration{time.Hour, 3 * 24 * time.Hour, 40 * 24 * time.Hour, 400 * 24 * time.Hour, 3000 * 24 * time.Hour}
	for _, rule := range rules {
		spec, _, err := parseRecur(rule, true)
		if err != nil {
			t.Fatal(rule, err)
		}
		for _, st := range starts {
			b := spec.bind(st, false)
			for _, h := range hints {
				hint := st.Add(h)
				want := firstFrom(b.iterator(time.Time{}), hint, 30, 3_000_000)
				got := firstFrom(b.iterator(hint), hint, 30, 3_000_000)
				if strings.Join(got, " ") != strings.Join(want, " ") {
					t.Errorf("%s from %s, hint +%v:\n got %v\nwant %v", rule, st, h, got, want)
				}
			}
		}
	}
}

func firstFrom(next func() (time.Time, bool), from time.Time, n, limit int) []string {
	var out []string
	for i := 0; i < limit && len(out) < n; i++ {
		v, ok := next()
		if !ok {
			break
		}
		if !v.Before(from) {
			out = append(out, v.Format(time.RFC3339))
		}
	}
	return out
}

func TestParseRecurStrictRefusesWhatLenientDrops(t *testing.T) {
	for _, rule := range []string{
		"FREQ=WEEKLY;X-NAME=1", "FREQ=WEEKLY;BYDAY", "FREQ=WEEKLY;UNTIL=2024", "FREQ=DAILY;COUNT=3;UNTIL=20240101",
		"FREQ=DAILY;COUNT=0", "FREQ=FORTNIGHTLY", "BYDAY=MO", "FREQ=MONTHLY;BYMONTHDAY=32", "FREQ=DAILY;INTERVAL=-1",
	} {
		if _, _, err := parseRecur(rule, true); err == nil {
			t.Errorf("%q accepted", rule)
		}
	}
}

// randomRule builds a syntactically valid RRULE from a few parts.
func randomRule(r *rand.Rand) string {
	freqs := []string{"YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY"}
	parts := []string{"FREQ=" + freqs[r.IntN(len(freqs))], fmt.Sprintf("INTERVAL=%d", 1+r.IntN(12))}
	pick := func(name string, lo, hi, n int) {
		var vs []string
		for range 1 + r.IntN(n) {
			v := lo + r.IntN(hi-lo+1)
			if v == 0 {
				v = 1
			}
			vs = append(vs, strconv.Itoa(v))
		}
		parts = append(parts, name+"="+strings.Join(vs, ","))
	}
	if r.IntN(3) == 0 {
		pick("BYMONTH", 1, 12, 3)
	}
	if r.IntN(3) == 0 {
		pick("BYMONTHDAY", -31, 31, 2)
	}
	if r.IntN(3) == 0 {
		days := []string{"MO", "TU", "WE", "TH", "FR", "SA", "SU"}
		var vs []string
		for range 1 + r.IntN(3) {
			n := ""
			if r.IntN(3) == 0 {
				n = strconv.Itoa(r.IntN(9) - 4)
				if n == "0" {
					n = ""
				}
			}
			vs = append(vs, n+days[r.IntN(7)])
		}
		parts = append(parts, "BYDAY="+strings.Join(vs, ","))
	}
	if r.IntN(4) == 0 {
		pick("BYHOUR", 0, 23, 3)
	}
	if r.IntN(5) == 0 {
		pick("BYSETPOS", -3, 3, 1)
	}
	if r.IntN(6) == 0 {
		pick("BYWEEKNO", -53, 53, 2)
	}
	if r.IntN(3) == 0 {
		parts = append(parts, "WKST="+[]string{"MO", "SU", "WE"}[r.IntN(3)])
	}
	return strings.Join(parts, ";")
}

func TestFastForwardAgreesOnRandomRules(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	zones := []*time.Location{time.UTC, mustLoad(t, "Europe/Berlin"), mustLoad(t, "America/Santiago"), mustLoad(t, "Australia/Lord_Howe")}
	n := 300
	if testing.Short() {
		n = 50
	}
	for range n {
		rule := randomRule(r)
		spec, _, err := parseRecur(rule, false)
		if err != nil {
			continue
		}
		loc := zones[r.IntN(len(zones))]
		st := time.Date(2015+r.IntN(10), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), 0, 0, loc)
		b := spec.bind(st, false)
		if b.never {
			continue
		}
		span := 4000 * 24 * time.Hour
		switch {
		case strings.Contains(rule, "MINUTELY"):
			span = 20 * 24 * time.Hour
		case strings.Contains(rule, "HOURLY"):
			span = 400 * 24 * time.Hour
		}
		hint := st.Add(time.Duration(r.Int64N(int64(span))))
		want := firstFrom(b.iterator(time.Time{}), hint, 10, 100_000)
		got := firstFrom(b.iterator(hint), hint, 10, 100_000)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s from %s, hint %s:\n got %v\nwant %v", rule, st, hint, got, want)
		}
	}
}
