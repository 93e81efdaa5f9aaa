// Package demo is `holdover demo`: the whole promise in one minute, on
// loopback, with nothing to configure. It starts an IMAP provider and an
// SMTP relay in-process (go-imap's in-memory server, go-smtp), CalDAV and
// WebDAV servers and an OAuth2 identity provider that IMAP and SMTP sign
// in with, the real daemon against them, then scripts an outage: the
// provider and its sign-in go away, the user keeps reading, flagging,
// moving and sending (mail apps through holdover's IMAP and SMTP
// endpoints, a cron job through `holdover sendmail`), and when the
// provider is back the sign-in is renewed and every change reaches it
// once.
//
// Every capability joins the story: its embedded provider, and a step
// done during the outage, checked on the provider afterwards.
//
// Invariants: everything listens on 127.0.0.1 only, lives in one temp
// directory, and stops before Run returns.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/holdover/holdover/daemon"
	"github.com/holdover/holdover/endpoints/control"
	"github.com/holdover/holdover/internal/backoff"
	"github.com/holdover/holdover/internal/faultproxy"
	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/outbox"
)

// Options configure Run.
type Options struct {
	Out io.Writer
	// Keep leaves everything running after the story until ctx ends, and
	// keeps the data directory (its path is printed).
	Keep bool
	// Version is the daemon's version string.
	Version string
	// Holdover is the holdover binary the demo's cron job runs as
	// `holdover sendmail`; empty: this program (os.Executable), which is
	// holdover itself unless the demo runs inside a test binary.
	Holdover string
	// Open, when set, is given the status page's sign-in URL once the
	// daemon runs (`demo --open` starts a browser with it).
	Open func(url string)
}

type demo struct {
	opts    Options
	dir     string
	cfgPath string
	imap    *imapProvider
	smtp    *smtpProvider
	cal     *calProvider
	imapCut *faultproxy.Proxy
	smtpCut *faultproxy.Proxy
	calCut  *faultproxy.Proxy
	files   *fileProvider
	fileCut *faultproxy.Proxy
	idp     *idProvider
	idpCut  *faultproxy.Proxy
	folder  string // the synced local folder
	// daemonDone receives the daemon's result when it stops.
	daemonDone chan error
	local      string // holdover's SMTP endpoint
	localIMAP  string // holdover's IMAP endpoint (a free port, not 1143: the demo must not meet a running daemon)
	page       string // holdover's listen.http
	db         *store.DB

	localCalDAV string // holdover's CalDAV endpoint (a free port, likewise)
}

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.opts.Out, format+"\n", args...) }

func (d *demo) step(title string) { fmt.Fprintf(d.opts.Out, "\n== %s\n", title) }

// Run plays the demo.
func Run(ctx context.Context, opts Options) (err error) {
	d := &demo{opts: opts}
	if d.dir, err = os.MkdirTemp("", "holdover-demo-"); err != nil {
		return err
	}
	defer func() {
		if opts.Keep {
			d.say("\nThe demo's data is kept in %s (config.yaml, data/holdover.db, daemon.log).", d.dir)
		} else {
			os.RemoveAll(d.dir)
		}
	}()
	if err := d.startProviders(); err != nil {
		return err
	}
	defer d.stopProviders()
	if err := d.writeConfig(); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(d.dir, "daemon.log"))
	if err != nil {
		return err
	}
	defer logf.Close()

	d.step("1. holdover starts and mirrors the mailbox")
	if err := d.signIn(ctx); err != nil {
		return err
	}
	dctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	d.daemonDone = done
	go func() {
		done <- daemon.Run(dctx, daemon.Options{ConfigPath: d.cfgPath, Version: opts.Version, LogOutput: logf,
			Retry: backoff.Policy{Base: 100 * time.Millisecond, Cap: time.Second}})
	}()
	defer func() {
		stop()
		if derr := <-done; derr != nil && err == nil {
			err = derr
		}
	}()
	if err := d.waitDaemon(ctx, done); err != nil {
		return err
	}
	if err := d.openStore(ctx); err != nil {
		return err
	}
	defer d.db.Close()
	if err := d.until(ctx, "the mirror", func() bool {
		return d.count(ctx) == 24 && d.countEvents(ctx) == 3 && d.localFiles() == len(demoFiles)
	}); err != nil {
		return err
	}
	d.showFolders(ctx)
	d.showEvents(ctx)
	d.showFiles()

	d.step("2. The provider goes down (IMAP, SMTP, CalDAV, WebDAV and its sign-in unreachable)")
	d.imapCut.Down()
	d.smtpCut.Down()
	d.calCut.Down()
	d.fileCut.Down()
	d.idpCut.Down()
	d.say("Reading still works, from the local store:")
	d.showSearch(ctx, "budget")

	d.step("3. Working offline: flag, move, send, plan, edit files")
	l := &outbox.Local{DB: d.db, SpoolDir: filepath.Join(d.dir, "data", "spool"), Notify: d.nudge}
	msgs, _ := d.db.ListMailMessages(ctx, store.MailFilter{Folder: "INBOX", Unread: true, Limit: 2})
	if len(msgs) < 2 {
		return errors.New("demo: the mirror has no unread mail")
	}
	if _, err := l.Flag(ctx, msgs[0].ID, []string{`\Seen`, `\Flagged`}, nil); err != nil {
		return err
	}
	d.say("  marked %q read and flagged", msgs[0].Subject)
	if _, err := l.Move(ctx, msgs[1].ID, "Archive"); err != nil {
		return err
	}
	d.say("  moved %q to Archive", msgs[1].Subject)
	if err := d.sendThroughEndpoint(); err != nil {
		return err
	}
	d.say("  a mail app sent \"Status report\" through holdover's SMTP endpoint (%s): 250, stored before the reply", d.local)
	if err := d.moveThroughIMAPEndpoint(); err != nil {
		return err
	}
	if err := d.cronReport(ctx); err != nil {
		return err
	}
	d.say("  a cron job mailed %q through `holdover sendmail -oi -t`: exit 0, queued on disk", cronSubject)
	if err := d.planOffline(ctx); err != nil {
		return err
	}
	if err := d.putThroughCalDAV(ctx); err != nil {
		return err
	}
	if err := d.editFilesOffline(ctx); err != nil {
		return err
	}
	if err := d.imap.moveElsewhere("Archive", "INBOX", phoneMoved); err != nil {
		return err
	}
	d.say("  meanwhile your phone, still reaching the provider, moved <%s> from Archive to INBOX", phoneMoved)
	if err := d.until(ctx, "the outage to be noticed", func() bool { return d.outageOpen(ctx) }); err != nil {
		return err
	}
	d.showStatus(ctx)

	time.Sleep(2 * time.Second) // let the outage last a moment

	d.step("4. The provider is back: the sign-in is renewed, the queue drains, once each")
	d.imapCut.Up()
	d.smtpCut.Up()
	d.calCut.Up()
	d.fileCut.Up()
	d.nudge("", "")
	if err := d.waitSignIn(ctx); err != nil {
		return err
	}
	back := time.Now()
	d.idpCut.Up()
	d.nudge("", "")
	if err := d.until(ctx, "the queue to drain", func() bool { return d.drained(ctx) }); err != nil {
		return err
	}
	d.showOutages(ctx)
	sent, want := d.smtp.messages(), []string{"Status report", cronSubject}
	if len(sent) != len(want) || !slices.Contains(sent, want[0]) || !slices.Contains(sent, want[1]) {
		return fmt.Errorf("demo: the relay received %s, want each of %s once", quote(sent), quote(want))
	}
	d.say("The relay received: %s (once each)", strings.Join(quote(want), ", "))
	if err := d.checkSignIn(back); err != nil {
		return err
	}
	d.say("IMAP and SMTP signed in with OAuth2 (token refreshed after the outage).")
	if err := d.imap.check(msgs[0].MessageID, msgs[1].MessageID); err != nil {
		return err
	}
	d.say("The provider now has %q read and flagged, and %q in Archive.", msgs[0].Subject, msgs[1].Subject)
	if err := d.imap.checkAppMove(); err != nil {
		return err
	}
	d.say("The provider has <%s>, moved by the mail app through holdover, in Archive (once).", appMoved)
	if err := d.cal.check(plannedSummary, renamedSummary); err != nil {
		return err
	}
	if err := d.cal.check(clientSummary, renamedSummary); err != nil {
		return err
	}
	d.say("The calendar provider has %q (once) and %q.", plannedSummary, renamedSummary)
	d.say("It has %q (once) too, from the calendar app's PUT to holdover.", clientSummary)
	if err := d.checkFiles(); err != nil {
		return err
	}
	if err := d.verify(ctx); err != nil {
		return err
	}
	d.say("\nThat is holdover: local reads and writes never waited for the provider, and")
	d.say("nothing was lost or sent twice. Try it on your own mail: see README.md.")
	if d.opts.Keep {
		d.say("\nEverything keeps running (the providers, the daemon, the status page) to explore,")
		d.say("e.g. HOLDOVER_CONFIG=%s holdover files status; Ctrl-C stops it.", d.cfgPath)
		select {
		case <-ctx.Done():
		case derr := <-d.daemonDone: // the daemon stopped on a signal of its own (SIGTERM)
			d.daemonDone <- derr
		}
	}
	return nil
}

// phoneMoved is the message another client moves during the outage.
const phoneMoved = "demo-3@example.com"

// verify brings the phone's change in with a pass, then has the daemon
// compare the whole mirror with the provider.
func (d *demo) verify(ctx context.Context) error {
	c := control.NewClient(d.socket())
	if _, err := c.SyncNow(ctx, "", control.SyncOptions{}); err != nil {
		return err
	}
	m, err := d.db.ListMailMessages(ctx, store.MailFilter{Folder: "INBOX"})
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(m, func(m store.MailMessage) bool { return m.MessageID == phoneMoved }) {
		return fmt.Errorf("demo: the phone's move of <%s> did not reach the mirror", phoneMoved)
	}
	raw, err := c.VerifyNow(ctx, "", false)
	if err != nil {
		return err
	}
	var res []daemon.VerifyResult
	if err := json.Unmarshal(raw, &res); err != nil || len(res) != 1 || res[0].Error != "" {
		return fmt.Errorf("demo: verification: %s %v", raw, err)
	}
	rep := res[0].Mail
	if len(rep.Divergences) > 0 || len(rep.Busy) > 0 {
		return fmt.Errorf("demo: the mirror differs from the provider: %+v", rep)
	}
	d.say("The phone's move is in the mirror too; compared in full (%d folders, %d messages),", rep.Folders, rep.Messages)
	d.say("the mirror equals the provider (holdover mail verify).")
	return nil
}

func quote(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

func secret() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (d *demo) startProviders() error {
	var err error
	if d.idp, err = startIdP(demoClientID); err != nil {
		return err
	}
	if d.idpCut, err = faultproxy.New(d.idp.addr()); err != nil {
		return err
	}
	if d.imap, err = startIMAP(demoUser, secret(), d.idp); err != nil {
		return err
	}
	if err := d.imap.seed(24); err != nil {
		return err
	}
	if d.smtp, err = startSMTP(demoUser, d.idp); err != nil {
		return err
	}
	if d.imapCut, err = faultproxy.New(d.imap.addr()); err != nil {
		return err
	}
	if d.smtpCut, err = faultproxy.New(d.smtp.addr()); err != nil {
		return err
	}
	if d.cal, err = startCalDAV("you@example.com", secret()); err != nil {
		return err
	}
	if err := d.cal.seed(time.Now()); err != nil {
		return err
	}
	if d.calCut, err = faultproxy.New(d.cal.addr()); err != nil {
		return err
	}
	if d.files, err = startWebDAV(filepath.Join(d.dir, "provider-files"), "you@example.com", secret()); err != nil {
		return err
	}
	if err := d.files.seed(); err != nil {
		return err
	}
	d.fileCut, err = faultproxy.New(d.files.addr())
	return err
}

func (d *demo) stopProviders() {
	for _, c := range []*faultproxy.Proxy{d.imapCut, d.smtpCut, d.calCut, d.fileCut, d.idpCut} {
		if c != nil {
			c.Close()
		}
	}
	if d.cal != nil {
		d.cal.close()
	}
	if d.files != nil {
		d.files.close()
	}
	if d.imap != nil {
		d.imap.close()
	}
	if d.smtp != nil {
		d.smtp.close()
	}
	if d.idp != nil {
		d.idp.close()
	}
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (d *demo) writeConfig() error {
	var err error
	if d.local, err = freePort(); err != nil {
		return err
	}
	if d.page, err = freePort(); err != nil {
		return err
	}
	if d.localIMAP, err = freePort(); err != nil {
		return err
	}
	if d.localCalDAV, err = freePort(); err != nil {
		return err
	}
	os.Setenv("HOLDOVER_DEMO_LOCAL", "demo-local-password")
	os.Setenv("HOLDOVER_DEMO_CAL", d.cal.password)
	os.Setenv("HOLDOVER_DEMO_FILES", d.files.password)
	d.folder = filepath.Join(d.dir, "Files")
	d.cfgPath = filepath.Join(d.dir, "config.yaml")
	cfg := fmt.Sprintf(`# holdover demo configuration (generated)
data_dir: %s/data
listen: {http: "%s", smtp: "%s", imap: "%s", caldav: "%s"}
sync: {interval: 10s}
accounts:
  - name: demo
    mail:
      # IMAP and SMTP sign in with OAuth2 at the demo's identity provider
      # (one sign-in: tokens/demo.json in the data dir).
      imap:
        host: 127.0.0.1
        port: %d
        tls: none
        username: you@example.com
        oauth2: &signin
          provider: custom
          client_id: %s
          auth_url: "http://127.0.0.1:%d/authorize"
          token_url: "http://127.0.0.1:%d/token"
          scopes: [mail]
      smtp: {host: 127.0.0.1, port: %d, tls: none, username: you@example.com, oauth2: *signin}
      local: {username: you, password_env: HOLDOVER_DEMO_LOCAL}
    # CalDAV and WebDAV sign in with a password: holdover's DAV connectors
    # have no OAuth2 yet (Graph calendars and files come later).
    calendar:
      caldav: {url: "http://127.0.0.1:%d/", username: you@example.com, password_env: HOLDOVER_DEMO_CAL}
    files:
      webdav: {url: "http://127.0.0.1:%d/", username: you@example.com, password_env: HOLDOVER_DEMO_FILES}
      local_dir: %s
`, d.dir, d.page, d.local, d.localIMAP, d.localCalDAV, d.imapCut.Port(), demoClientID, d.idpCut.Port(), d.idpCut.Port(), d.smtpCut.Port(), d.calCut.Port(), d.fileCut.Port(), d.folder)
	return os.WriteFile(d.cfgPath, []byte(cfg), 0o600)
}

func (d *demo) socket() string { return filepath.Join(d.dir, "data", "holdover.sock") }

func (d *demo) waitDaemon(ctx context.Context, done <-chan error) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			return fmt.Errorf("demo: the daemon stopped: %w", err)
		default:
		}
		if _, err := control.NewClient(d.socket()).Info(ctx); err == nil {
			d.say("daemon running; data in %s", filepath.Join(d.dir, "data"))
			d.showPage(ctx)
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("demo: the daemon did not start (see its log)")
}

// showPage prints the status page's address and a sign-in link, so the
// story can be watched in a browser too.
func (d *demo) showPage(ctx context.Context) {
	u, err := control.NewClient(d.socket()).LoginURL(ctx)
	if err != nil {
		return
	}
	d.say("status page: http://%s/ (sign in once with %s)", d.page, u)
	if d.opts.Open != nil {
		d.opts.Open(u)
	}
}

func (d *demo) openStore(ctx context.Context) error {
	var err error
	d.db, err = store.Open(ctx, filepath.Join(d.dir, "data", "holdover.db"))
	return err
}

func (d *demo) nudge(account, service string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	control.NewClient(d.socket()).Nudge(ctx, account, service)
}

func (d *demo) until(ctx context.Context, what string, cond func() bool) error {
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: timed out waiting for %s", what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

func (d *demo) sendThroughEndpoint() error {
	c, err := smtp.Dial(d.local)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "you", "demo-local-password")); err != nil {
		return err
	}
	msg := "From: you@example.com\r\nTo: team@example.com\r\nSubject: Status report\r\n\r\nAll systems nominal, as far as we can tell offline.\r\n"
	return c.SendMail("you@example.com", []string{"team@example.com"}, strings.NewReader(msg))
}
