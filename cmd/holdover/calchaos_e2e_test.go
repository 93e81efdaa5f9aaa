package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/holdover/holdover/connectors/caldav"
)

// Calendar replays under kill -9: the daemon is killed at random moments
// while 20 events are created and 10 edited through the CLI. Afterwards
// the server has each event exactly once (a create replayed after a kill
// is recognised by its UID, never made twice), every edit is there, and
// the outbox is empty.
func TestKillNineDuringCalendarReplaysDoublesNothing(t *testing.T) {
	r, _, cfg, env := calSetup(t)
	run := func(args ...string) (int, string, string) {
		return runBin(t, env, append([]string{"--config", cfg}, args...)...)
	}
	if code, out, stderr := run("sync", "--once"); code != 0 {
		t.Fatalf("sync --once: exit %d\n%s%s", code, out, stderr)
	}

	stop := make(chan struct{})
	var killed int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			cmd := exec.Command(holdoverBin(t), "--config", cfg, "run")
			cmd.Env = append(os.Environ(), env...)
			if err := cmd.Start(); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Duration(80+rand.IntN(300)) * time.Millisecond)
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			killed++
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	const creates = 20
	for i := 0; i < creates; i++ {
		if code, out, stderr := run("cal", "add", "--calendar", "work", "--summary", fmt.Sprintf("chaos %d", i),
			"--start", fmt.Sprintf("2026-12-%02dT08:00:00Z", i%28+1), "--end", fmt.Sprintf("2026-12-%02dT08:30:00Z", i%28+1)); code != 0 {
			t.Fatalf("cal add %d: exit %d %s %s", i, code, out, stderr)
		}
		if i < 10 {
			id := i + 1 // ids 1..3 are the seeded events, then ours in order
			if code, out, stderr := run("cal", "edit", fmt.Sprint(id), "--location", fmt.Sprintf("room %d", i)); code != 0 {
				t.Fatalf("cal edit %d: exit %d %s %s", id, code, out, stderr)
			}
		}
		time.Sleep(time.Duration(rand.IntN(60)) * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	t.Logf("daemon killed %d times", killed)

	p := startDaemon(t, env, "--config", cfg)
	deadline := time.Now().Add(60 * time.Second)
	for {
		open := 0
		rows := outboxJSONRows(t, env, cfg)
		for _, row := range rows {
			if row.State != "done" && row.State != "cancelled" {
				open++
			}
		}
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the queue did not drain: %+v\n%s", rows, p.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.cmd.Process.Signal(os.Interrupt)
	p.waitExit(t)

	c, err := caldav.New(caldav.Config{URL: r.URL + r.User + "/", Username: r.User, Password: func(context.Context) (string, error) { return r.Password, nil }})
	if err != nil {
		t.Fatal(err)
	}
	refs, err := c.ETags(context.Background(), "/"+r.User+"/work/")
	if err != nil {
		t.Fatal(err)
	}
	summaries := map[string]int{}
	rooms := 0
	for _, ref := range refs {
		o, err := c.Get(context.Background(), ref.Href)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(o.Data), "\n") {
			line = strings.TrimSpace(line)
			if s, ok := strings.CutPrefix(line, "SUMMARY:"); ok {
				summaries[s]++
			}
			if strings.HasPrefix(line, "LOCATION:room ") {
				rooms++
			}
		}
	}
	if len(refs) != creates+3 {
		t.Errorf("server has %d events, want %d", len(refs), creates+3)
	}
	for s, n := range summaries {
		if n != 1 {
			t.Errorf("%q is on the server %d times", s, n)
		}
	}
	if rooms != 10 {
		t.Errorf("%d of 10 edits reached the server", rooms)
	}
}
