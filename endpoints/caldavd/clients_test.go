package caldavd_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/holdover/holdover/internal/testenv"
	hsync "github.com/holdover/holdover/sync"
)

func run(t *testing.T, dir string, stdin string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// python3-caldav, a client written against other servers, discovers the
// mirrored calendars from the base URL, reads their events (a
// calendar-query through go-webdav) and syncs by sync-token.
func TestPythonCaldavDiscoversTheCalendarsAndReadsTheirEvents(t *testing.T) {
	py := testenv.Tool(t, "/usr/bin/python3")
	if _, err := os.Stat("/usr/lib/python3/dist-packages/caldav"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3-caldav is not installed (scripts/install-test-deps.sh)")
		}
		t.Skip("python3-caldav is not installed")
	}
	e := newEnv(t)
	e.seed(t, "work", 3)
	e.seed(t, "home", 2)
	e.sync(t)
	script := `
import sys, caldav
client = caldav.DAVClient(url=sys.argv[1], username=sys.argv[2], password=sys.argv[3])
cals = sorted(client.principal().calendars(), key=lambda c: c.name)
for cal in cals:
    print("calendar", cal.name, len(cal.events()))
# RFC 6578: the first listing gives a token; after one more event, the
# token names only that one.
work = cals[1]
first = work.objects_by_sync_token(load_objects=False)
work.save_event("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//py//EN\r\nBEGIN:VEVENT\r\nUID:py@test\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:20261201T090000Z\r\nDTEND:20261201T100000Z\r\nSUMMARY:from python\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
later = work.objects_by_sync_token(sync_token=first.sync_token, load_objects=True)
print("changed", len(list(later.objects)), [o.data.count("from python") for o in later.objects])
`
	out := run(t, t.TempDir(), "", py, "-c", script, e.url+"/", localUser, localPass)
	// The names are the provider's (Radicale's, without a displayname:
	// the collection path).
	if !regexp.MustCompile(`^calendar \S*home 2\ncalendar \S*work 3\nchanged 1 \[1\]$`).MatchString(strings.TrimSpace(out)) {
		t.Fatalf("python3-caldav saw:\n%s", out)
	}
}

// vdirsyncer keeps a folder of .ics files in sync with holdover's
// endpoint both ways; during a provider outage it keeps working, and
// its changes reach the provider once after recovery.
func TestVdirsyncerSyncsAFolderBothWaysThroughAnOutage(t *testing.T) {
	bin := testenv.Tool(t, "vdirsyncer")
	e := newEnv(t)
	e.seed(t, "work", 3)
	e.sync(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	os.WriteFile(cfg, []byte(`[general]
status_path = "`+dir+`/status/"

[pair cal]
a = "folder"
b = "holdover"
collections = ["from b"]
conflict_resolution = "a wins"

[storage folder]
type = "filesystem"
path = "`+dir+`/cals/"
fileext = ".ics"

[storage holdover]
type = "caldav"
url = "`+e.url+`/"
username = "`+localUser+`"
password = "`+localPass+`"
`), 0o600)
	vs := func(args ...string) string {
		t.Helper()
		return run(t, dir, strings.Repeat("y\n", 10), bin, append([]string{"-c", cfg}, args...)...)
	}
	vs("discover", "cal")
	vs("sync")
	calDir := collectionDir(t, filepath.Join(dir, "cals"))
	if n := icsFiles(t, calDir); len(n) != 3 {
		t.Fatalf("after the first sync the folder holds %v", n)
	}

	// During an outage: a new event and an edit in the folder go to
	// holdover, which accepts them at once.
	e.proxy.Down()
	os.WriteFile(filepath.Join(calDir, "offline.ics"), event("offline@test", "written offline", day.Add(24*time.Hour)), 0o644)
	edited := findFile(t, calDir, "work-0@test")
	data, _ := os.ReadFile(edited)
	os.WriteFile(edited, []byte(strings.Replace(string(data), "work event 0", "renamed offline", 1)), 0o644)
	vs("sync")
	if _, ok := e.serverObject(t, "work", "offline.ics"); ok {
		t.Fatal("reached the provider through a down proxy")
	}
	// A second sync finds nothing to do: holdover's ETags did not move.
	if out := vs("sync"); strings.Contains(out, "Copying") || strings.Contains(out, "Updating") {
		t.Fatalf("a second sync during the outage did work:\n%s", out)
	}

	e.proxy.Up()
	e.worker.Wake()
	waitFor(t, "the replay after recovery", 15*time.Second, func() bool { return e.outboxDone(t) })
	found := 0
	for _, name := range e.serverNames(t, "work") {
		data, _ := e.serverObject(t, "work", name)
		if strings.Contains(data, "written offline") {
			found++
		}
		if strings.Contains(data, "UID:work-0@test") && !strings.Contains(data, "renamed offline") {
			t.Fatalf("the offline edit is not at the provider: %q", data)
		}
	}
	if found != 1 {
		t.Fatalf("the offline event is %d times at the provider, want once", found)
	}

	// The other way: an event another client made at the provider
	// reaches the folder through holdover's mirror.
	if _, err := e.direct.Put(context.Background(), "/"+e.rad.User+"/work/fromserver.ics", event("fromserver@test", "from the other side", day), hsync.PutCondition{Create: true}); err != nil {
		t.Fatal(err)
	}
	e.sync(t)
	vs("sync")
	if findFile(t, calDir, "fromserver@test") == "" {
		t.Fatal("the folder did not get the event")
	}
}

// collectionDir is the one collection vdirsyncer made under root.
func collectionDir(t *testing.T, root string) string {
	t.Helper()
	ents, err := os.ReadDir(root)
	if err != nil || len(ents) != 1 {
		t.Fatalf("collections under %s: %v %v", root, ents, err)
	}
	return filepath.Join(root, ents[0].Name())
}

func icsFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.ics"))
	return m
}

// findFile is the .ics file in dir holding uid ("" when none).
func findFile(t *testing.T, dir, uid string) string {
	t.Helper()
	for _, f := range icsFiles(t, dir) {
		if data, _ := os.ReadFile(f); strings.Contains(string(data), "UID:"+uid) {
			return f
		}
	}
	return ""
}

// serverNames lists the object names of a calendar at the provider.
func (e *env) serverNames(t *testing.T, cal string) []string {
	t.Helper()
	refs, err := e.direct.ETags(context.Background(), "/"+e.rad.User+"/"+cal+"/")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range refs {
		out = append(out, r.Href[strings.LastIndex(r.Href, "/")+1:])
	}
	return out
}

var litmusSummary = regexp.MustCompile(`<- summary for .*`)

// litmus, the WebDAV conformance suite, against a calendar collection.
// Every litmus suite starts by making a plain collection of its own
// (MKCOL litmus/) to work in, which a CalDAV calendar cannot hold (RFC
// 4791 4.2: calendar collections contain no collections), and which
// holdover refuses anyway (calendars are the provider's); so each suite
// stops after init. What this pins: the endpoint answers litmus's
// probes and its refusal, and stays up.
func TestLitmusAgainstACalendar(t *testing.T) {
	bin := testenv.Tool(t, "litmus")
	e := newEnv(t)
	e.seed(t, "work", 1)
	e.sync(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cal := e.calendarURL(t, "work")
	cmd := exec.CommandContext(ctx, bin, "-k", cal, localUser, localPass)
	cmd.Dir = t.TempDir()
	out, _ := cmd.CombinedOutput()
	t.Logf("litmus:\n%s", out)
	sums := litmusSummary.FindAllString(string(out), -1)
	if len(sums) != 5 || !strings.Contains(string(out), "0. init.................. pass") || !strings.Contains(string(out), "MKCOL") {
		t.Fatalf("litmus did not run its five suites to the expected stop: %q", sums)
	}
	if resp, _ := do(t, "PROPFIND", cal, "", "Depth", "0"); resp.StatusCode != 207 {
		t.Fatalf("after litmus: PROPFIND %d", resp.StatusCode)
	}
}
