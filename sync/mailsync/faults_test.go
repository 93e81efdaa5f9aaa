package mailsync_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	imapconn "github.com/holdover/holdover/connectors/imap"
	"github.com/holdover/holdover/internal/faultproxy"
	"github.com/holdover/holdover/internal/testenv"
	hsync "github.com/holdover/holdover/sync"
)

func TestConnectionDroppedMidFetchLosesNothingAndResumes(t *testing.T) {
	srv := startServer(t)
	const n = 20
	for i := 0; i < n; i++ {
		srv.appendMsg(t, "INBOX", msg(fmt.Sprintf("big-%d@example.com", i), "big", strings.Repeat(fmt.Sprintf("line %d of a long letter\n", i), 800)), t0)
	}
	proxy, err := faultproxy.New(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	f := newFixture(t, srv)
	f.cfg.Port = proxy.Port() // the engine dials through the proxy
	f.eng = f.engine(t, 4)
	proxy.CutAfter(200 << 10) // mid-way through the bodies

	_, err = f.eng.SyncOnce(context.Background())
	if err == nil || hsync.KindOf(err) != hsync.Transient {
		t.Fatalf("cut sync: %v (kind %v), want a transient error", err, hsync.KindOf(err))
	}
	committed := countMessages(t, f.db)
	if committed == 0 || committed == n {
		t.Fatalf("%d of %d messages committed; the cut should land mid-sync", committed, n)
	}
	if rep, err := f.db.Check(context.Background()); err != nil || !rep.OK {
		t.Fatalf("integrity after the cut: %v %v", rep.Integrity, err)
	}

	proxy.CutAfter(0)
	f.eng = f.engine(t, 4)
	f.sync(t)
	if got := f.remote.bodies; got != n-committed {
		t.Fatalf("resume downloaded %d bodies, want %d (= %d - %d committed)", got, n-committed, n, committed)
	}
	f.assertMirror(t)
}

func TestFiftyMegabyteAttachmentIsStoredByteForByte(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode: skipping the 50 MB message")
	}
	srv := startServer(t)
	var b bytes.Buffer
	b.WriteString("From: a@example.com\r\nSubject: huge\r\nMessage-ID: <huge@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=big.bin\r\n\r\n")
	line := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3", 2)[:76] + "\r\n"
	for b.Len() < 50<<20 {
		b.WriteString(line)
	}
	b.WriteString("--b--\r\n")
	srv.appendMsg(t, "INBOX", b.Bytes(), t0)
	f := newFixture(t, srv)
	st := f.sync(t)
	if st.Downloaded != 1 || st.Bytes != int64(b.Len()) {
		t.Fatalf("stats %+v, want one body of %d bytes", st, b.Len())
	}
	f.assertMirror(t)
}

// A server without CONDSTORE (go-imap's in-memory server): flags are
// compared in full on every pass, and nothing is downloaded twice.
func TestServerWithoutCondstoreStillSyncsFlags(t *testing.T) {
	srv := testenv.StartIMAPMem(t, imap.CapSet{imap.CapIMAP4rev1: {}}, nil)
	for i := 0; i < 5; i++ {
		srv.Append(t, "INBOX", msg(fmt.Sprintf("m%d@example.com", i), "mem", "body"))
	}
	fx := newFixtureCfg(t, imapconn.Config{Host: srv.Host, Port: srv.Port, TLS: "none", Username: "me",
		Password: func(context.Context) (string, error) { return "pw", nil }})
	st := fx.sync(t)
	if st.New != 5 {
		t.Fatalf("initial: %+v", st)
	}
	c, err := imapclient.DialInsecure(srv.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("me", "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var one imap.UIDSet
	one.AddNum(2)
	if err := c.Store(one, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	st = fx.sync(t)
	if st.FlagChanges != 1 || st.Downloaded != 0 || st.Skipped != 0 {
		t.Fatalf("after a flag change without CONDSTORE: %+v", st)
	}
}
func TestHalfOpenServerIsDetectedByTheReadTimeout(t *testing.T) {
	srv := startServer(t)
	srv.appendMsg(t, "INBOX", msg("h@example.com", "h", "body"), t0)
	proxy, err := faultproxy.New(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	f := newFixture(t, srv)
	f.cfg.Port = proxy.Port()
	f.cfg.ReadTimeout = 300 * time.Millisecond
	// The engine reconnects once after the read times out: connecting to
	// the hung server is bounded by the dial timeout (mail.timeout).
	f.cfg.DialTimeout = time.Second
	f.eng = f.engine(t, 0)
	f.sync(t) // a working session first
	proxy.Hang()
	start := time.Now()
	_, err = f.eng.SyncOnce(context.Background())
	if err == nil || hsync.KindOf(err) != hsync.Transient {
		t.Fatalf("sync against a hung server: %v, want a transient error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v to notice the hang", d)
	}
	proxy.Up()
	f.sync(t)
	f.assertMirror(t)
}
