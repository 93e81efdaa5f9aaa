//go:build linux

package bench

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// toolRun is one measured run with what it asked of the server.
type toolRun struct {
	run
	dav davStats   // through the delaying proxy (empty on loopback)
	srv serverTime // from the server's log
}

// cmpRow is one step of a comparison: holdover's runs and the reference
// tool's, taken in turn.
type cmpRow struct {
	name string
	tag  string    // short name in "where the time goes"; "" is name[:3], "(a)"
	goal float64   // holdover's median wall time over the reference's, at most
	h, v []toolRun // holdover's and the reference tool's runs (v empty without it)
}

func (r cmpRow) runs(ref bool) []run {
	tr := r.h
	if ref {
		tr = r.v
	}
	var out []run
	for _, x := range tr {
		out = append(out, x.run)
	}
	return out
}

func (r cmpRow) short() string {
	if r.tag != "" {
		return r.tag
	}
	return r.name[:3]
}

// medianRun is the run with the median wall time (n odd).
func medianRun(tr []toolRun) toolRun {
	s := slices.Clone(tr)
	slices.SortFunc(s, func(a, b toolRun) int { return int(a.Wall - b.Wall) })
	return s[len(s)/2]
}

// ratio is holdover's median wall time over the reference tool's (0
// without it).
func (r cmpRow) ratio() float64 {
	if len(r.v) == 0 {
		return 0
	}
	return median(r.runs(false)).Wall.Seconds() / median(r.runs(true)).Wall.Seconds()
}

// cmpTable is the comparison on one link.
type cmpTable struct {
	link    string
	delayed bool
	ref     string // the reference tool: "vdirsyncer", "rclone bisync"
	rows    []cmpRow
}

func minMedMax(runs []run) string {
	if len(runs) == 0 {
		return "n/a"
	}
	s := slices.Clone(runs)
	slices.SortFunc(s, func(a, b run) int { return int(a.Wall - b.Wall) })
	f := func(d time.Duration) string {
		if d < time.Second {
			return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
		}
		return fmtWall(d)
	}
	return f(s[0].Wall) + " / " + f(s[len(s)/2].Wall) + " / " + f(s[len(s)-1].Wall)
}

func maxRSSCol(runs []run) string {
	if len(runs) == 0 {
		return "n/a"
	}
	m := runs[0]
	for _, r := range runs {
		if r.MaxRSSKB > m.MaxRSSKB {
			m = r
		}
	}
	return rssCol(m)
}

func (tb cmpTable) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nlink: %s\n", tb.link)
	width := 30
	for _, r := range tb.rows {
		width = max(width, len([]rune(r.name)))
	}
	line := func(cols ...string) {
		fmt.Fprintf(&b, "%s %-24s %-9s %-24s %-9s %-7s %s\n", padRight(cols[0], width), cols[1], cols[2], cols[3], cols[4], cols[5], cols[6])
	}
	line("step", "holdover min/med/max", "maxRSS", tb.ref+" min/med/max", "maxRSS", "ratio", "goal")
	for _, r := range tb.rows {
		ratio := "n/a"
		if len(r.v) > 0 {
			ratio = fmt.Sprintf("%.2fx", r.ratio())
		}
		goal := fmt.Sprintf("<= %.1fx", r.goal)
		if r.goal == 0 {
			goal = "see verdict" // an absolute time, not a ratio
		}
		line(r.name, minMedMax(r.runs(false)), maxRSSCol(r.runs(false)), minMedMax(r.runs(true)), maxRSSCol(r.runs(true)),
			ratio, goal)
	}
	server := ""
	for _, r := range tb.rows {
		for _, x := range append(slices.Clone(r.h), r.v...) {
			server = cmp.Or(server, x.srv.Server)
		}
	}
	switch {
	case server == "" && tb.delayed:
		b.WriteString("where the time goes (median runs; requests counted by the proxy):\n")
	case server == "":
		b.WriteString("where the time goes (median runs):\n")
	default:
		fmt.Fprintf(&b, "where the time goes (median runs; requests counted %s; %s's time from its log):\n",
			map[bool]string{true: "by the proxy", false: "in " + server + "'s log"}[tb.delayed], server)
	}
	tagWidth := 4
	for _, r := range tb.rows {
		tagWidth = max(tagWidth, len([]rune(r.short())))
	}
	for _, r := range tb.rows {
		for _, tool := range []struct {
			name string
			runs []toolRun
		}{{"holdover", r.h}, {tb.ref, r.v}} {
			if len(tool.runs) == 0 {
				continue
			}
			m := medianRun(tool.runs)
			what := m.srv.String()
			switch {
			case tb.delayed && m.srv.Server == "":
				what = m.dav.String()
			case tb.delayed:
				what = fmt.Sprintf("%s; %s busy %.2fs", m.dav, m.srv.Server, m.srv.Busy.Seconds())
			case m.srv.Server == "":
				what = "no server log"
			}
			fmt.Fprintf(&b, "  %s %s wall %s = CPU %.2fs (user+sys, children included), wrote %.0f MB + %s\n", padRight(r.short(), tagWidth),
				padRight(tool.name, max(10, len(tb.ref))), fmtWall(m.Wall), (m.User + m.Sys).Seconds(), m.WrittenMB, what)
		}
	}
	return b.String()
}

// padRight pads s with spaces to width runes.
func padRight(s string, width int) string {
	if n := len([]rune(s)); n < width {
		return s + strings.Repeat(" ", width-n)
	}
	return s
}
