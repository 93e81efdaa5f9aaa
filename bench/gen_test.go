//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"math/rand/v2"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The generated mailbox: folder names, their maildir++ directories below
// the user's Maildir (Dovecot's default layout for maildir:~/Maildir is
// maildir++: folder "Archive" is ".Archive", INBOX is the Maildir itself),
// their share of the messages and how many of their messages are read.
var benchFolders = []struct {
	Name, Dir string
	Share     float64
	Odds      flagOdds
}{
	{"INBOX", "", 0.35, flagOdds{Seen: 0.70, Flagged: 0.05, Answered: 0.15}},
	{"Archive", ".Archive", 0.25, flagOdds{Seen: 0.99, Flagged: 0.02, Answered: 0.25}},
	{"Sent", ".Sent", 0.12, flagOdds{Seen: 1}},
	{"Projects", ".Projects", 0.10, flagOdds{Seen: 0.80, Flagged: 0.10, Answered: 0.20}},
	{"Lists", ".Lists", 0.13, flagOdds{Seen: 0.50, Flagged: 0.01, Answered: 0.02}},
	{"Receipts", ".Receipts", 0.05, flagOdds{Seen: 0.90, Flagged: 0.03}},
}

// flagOdds are the chances that a message has each flag.
type flagOdds struct{ Seen, Flagged, Answered float64 }

// genNow is the fixed "now" of the generated mail, so runs are identical.
var genNow = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

var (
	commonWords = strings.Fields(`the of and to a in is it you that was for on are with as
		be at one have this from or had by but some what there we can out other were all your
		when up use how said each which do their time if will way about many then them would
		like so these long make see more day could go come did no most number who over know
		than call first people may down been now find any new work part take get place made
		where after back little only year show every good give our under name very through
		just form much great think say help line before turn same mean move right old too does
		tell set three want well also small end put home read hand large add even here must
		big high such follow act why ask change went kind off need try again point near build`)
	workWords = strings.Fields(`budget quarterly invoice deadline meeting review release
		deploy roadmap customer contract proposal schedule agenda migration database server
		outage incident postmortem milestone sprint estimate draft feedback approval backlog
		latency throughput storage backup retention compliance audit vendor renewal forecast
		onboarding handover staging rollout dashboard metrics alerting capacity Köln Zürich
		Grüße naïve café résumé`)
	people = []string{"Alice Martin", "Bob Chen", "Carla Núñez", "David Okafor", "Eva Lindqvist",
		"Farid Haddad", "Grace Kim", "Hugo Lefèvre", "Ines Ferreira", "Jonas Weber", "Kenji Sato",
		"Lena Petrova", "Marco Rossi", "Nadia Benali", "Oscar Jensen", "Priya Raman"}
	domains   = []string{"example.com", "example.org", "example.net", "corp.example", "mail.example"}
	lists     = []string{"dev@lists.example.org", "announce@lists.example.net", "users@lists.example.com"}
	shops     = []string{"Bookshop", "Cloud Hosting", "Rail Tickets", "Coffee Roasters", "Hardware Store"}
	me        = "Holdover Bench <me@example.com>"
	benchHost = "holdoverbench"
)

// gen generates deterministic, realistic messages.
type gen struct {
	r   *rand.Rand
	seq int // next message number, part of every Message-ID
}

func newGen(seed uint64) *gen { return &gen{r: rand.New(rand.NewPCG(seed, 0x686f6c646f766572))} }

func (g *gen) pick(s []string) string { return s[g.r.IntN(len(s))] }
func (g *gen) chance(p float64) bool  { return g.r.Float64() < p }

func (g *gen) word() string {
	if g.chance(0.15) {
		return g.pick(workWords)
	}
	return g.pick(commonWords)
}

func addr(name, domain string) string {
	local := strings.ToLower(strings.Fields(name)[0])
	return mime.QEncoding.Encode("utf-8", name) + " <" + local + "@" + domain + ">"
}

// paragraph returns 2-7 sentences wrapped at 72 columns, lines ending in \n.
func (g *gen) paragraph() string {
	var words []string
	for n := 2 + g.r.IntN(6); n > 0; n-- {
		k := 5 + g.r.IntN(14)
		for i := 0; i < k; i++ {
			w := g.word()
			if i == 0 {
				w = strings.ToUpper(w[:1]) + w[1:]
			}
			if i == k-1 {
				w += g.pick([]string{".", ".", ".", "?", "!"})
			} else if g.chance(0.08) {
				w += ","
			}
			words = append(words, w)
		}
	}
	var b strings.Builder
	col := 0
	for _, w := range words {
		if col > 0 && col+1+len(w) > 72 {
			b.WriteByte('\n')
			col = 0
		} else if col > 0 {
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += len(w)
	}
	b.WriteByte('\n')
	return b.String()
}

// paragraphs returns paragraphs totalling at least size bytes.
func (g *gen) paragraphs(size int) []string {
	var ps []string
	for n := 0; n < size; {
		p := g.paragraph()
		if len(ps) > 0 && g.chance(0.1) { // a quoted bit of an earlier mail
			p = "> " + strings.ReplaceAll(strings.TrimSuffix(p, "\n"), "\n", "\n> ") + "\n"
		}
		ps = append(ps, p)
		n += len(p) + 1
	}
	return ps
}

// msgSpec describes one message to generate.
type msgSpec struct {
	Folder string
	Date   time.Time
	Attach int // attachment bytes (before base64), 0 for none
}

// message returns a message with LF line endings (as maildir files have
// them) and its maildir flag letters, in ASCII order.
func (g *gen) message(s msgSpec, fl flagOdds) (raw []byte, flags string) {
	g.seq++
	from, to := addr(g.pick(people), g.pick(domains)), me
	subject := strings.TrimSuffix(g.paragraph(), "\n")
	subject = strings.TrimRight(strings.Join(strings.Fields(subject)[:3+g.r.IntN(6)], " "), ".,?!")
	var extra []string
	switch s.Folder {
	case "Sent":
		from, to = me, addr(g.pick(people), g.pick(domains))
	case "Lists":
		l := g.pick(lists)
		to = l
		extra = append(extra, "List-Id: <"+strings.Replace(l, "@", ".", 1)+">", "Precedence: list")
	case "Receipts":
		shop := g.pick(shops)
		from = addr(shop, "shop.example")
		subject = fmt.Sprintf("Your receipt from %s #%d", shop, 100000+g.r.IntN(900000))
	}
	if g.chance(0.3) {
		subject = "Re: " + subject
		extra = append(extra, fmt.Sprintf("In-Reply-To: <%x@%s>", g.r.Uint64(), g.pick(domains)))
	}
	if g.chance(0.05) {
		subject += " – Grüße aus Köln"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Return-Path: <bounce@%s>\n", g.pick(domains))
	fmt.Fprintf(&b, "Received: from mx%d.%s (mx.%s [192.0.2.%d])\n\tby mx.example.com with ESMTPS id %X\n\tfor <me@example.com>; %s\n",
		g.r.IntN(9), g.pick(domains), g.pick(domains), g.r.IntN(250)+1, g.r.Uint64(), s.Date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "From: %s\nTo: %s\n", from, to)
	if g.chance(0.25) {
		fmt.Fprintf(&b, "Cc: %s, %s\n", addr(g.pick(people), g.pick(domains)), addr(g.pick(people), g.pick(domains)))
	}
	fmt.Fprintf(&b, "Subject: %s\nDate: %s\nMessage-ID: <%08x.%d.bench@%s>\n",
		mime.QEncoding.Encode("utf-8", subject), s.Date.Format(time.RFC1123Z), g.r.Uint32(), g.seq, g.pick(domains))
	for _, h := range extra {
		b.WriteString(h + "\n")
	}
	b.WriteString("MIME-Version: 1.0\n")

	size := 1500 + int(18000*g.r.Float64()*g.r.Float64()) // 2-20 KB with headers, mostly small
	greeting := "Hi " + strings.Fields(g.pick(people))[0] + ",\n\n"
	sig := "\n-- \n" + g.pick(people) + "\n"
	switch {
	case s.Attach > 0:
		bd := fmt.Sprintf("=_mixed_%x", g.r.Uint64())
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=%q\n\nThis is a multi-part message in MIME format.\n\n--%s\n", bd, bd)
		b.WriteString("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n")
		b.WriteString(greeting + strings.Join(g.paragraphs(size/2), "\n") + sig)
		name := fmt.Sprintf("report-%d.pdf", g.seq)
		fmt.Fprintf(&b, "\n--%s\nContent-Type: application/pdf; name=%q\nContent-Disposition: attachment; filename=%q\nContent-Transfer-Encoding: base64\n\n", bd, name, name)
		if err := g.base64Body(&b, int64(s.Attach)); err != nil {
			panic(err) // writes to a bytes.Buffer do not fail
		}
		fmt.Fprintf(&b, "\n--%s--\n", bd)
	case g.chance(0.25):
		bd := fmt.Sprintf("=_alt_%x", g.r.Uint64())
		ps := g.paragraphs(size / 2)
		fmt.Fprintf(&b, "Content-Type: multipart/alternative; boundary=%q\n\n--%s\n", bd, bd)
		b.WriteString("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n")
		b.WriteString(greeting + strings.Join(ps, "\n") + sig)
		fmt.Fprintf(&b, "\n--%s\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n", bd)
		b.WriteString("<html><head><meta charset=\"utf-8\"></head><body>\n")
		for _, p := range ps {
			b.WriteString("<p>" + html.EscapeString(p) + "</p>\n")
		}
		fmt.Fprintf(&b, "</body></html>\n\n--%s--\n", bd)
	default:
		b.WriteString("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n")
		b.WriteString(greeting + strings.Join(g.paragraphs(size), "\n") + sig)
	}
	if g.chance(fl.Flagged) {
		flags += "F"
	}
	if g.chance(fl.Answered) {
		flags += "R"
	}
	if g.chance(fl.Seen) {
		flags += "S"
	}
	return b.Bytes(), flags
}

// base64Body writes n random (incompressible, like a PDF) bytes as base64
// in 76-column lines, streaming: memory stays small whatever n is.
func (g *gen) base64Body(w io.Writer, n int64) error {
	lw := &lineWrapper{w: w}
	enc := base64.NewEncoder(base64.StdEncoding, lw)
	buf := make([]byte, 48<<10)
	for n > 0 {
		k := min(int64(len(buf)), n)
		for i := 0; i < int(k); i += 8 {
			v := g.r.Uint64()
			for j := 0; j < 8 && i+j < int(k); j++ {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		if _, err := enc.Write(buf[:k]); err != nil {
			return err
		}
		n -= k
	}
	if err := enc.Close(); err != nil {
		return err
	}
	if lw.col > 0 {
		_, err := w.Write([]byte{'\n'})
		return err
	}
	return nil
}

// lineWrapper breaks a stream into 76-byte lines.
type lineWrapper struct {
	w   io.Writer
	col int
}

func (l *lineWrapper) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(76-l.col, len(p))
		if _, err := l.w.Write(p[:k]); err != nil {
			return 0, err
		}
		p, l.col = p[k:], l.col+k
		if l.col == 76 {
			if _, err := l.w.Write([]byte{'\n'}); err != nil {
				return 0, err
			}
			l.col = 0
		}
	}
	return n, nil
}

// owner is who Dovecot's mail processes run as: the owner of the user's
// home (testenv hands it to TestUser when the tests run as root).
type owner struct {
	uid, gid int
	root     bool
}

func ownerOf(path string) (owner, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return owner{}, err
	}
	st := fi.Sys().(*syscall.Stat_t)
	return owner{uid: int(st.Uid), gid: int(st.Gid), root: os.Geteuid() == 0}, nil
}

func (o owner) chown(path string) error {
	if !o.root {
		return nil
	}
	return os.Lchown(path, o.uid, o.gid)
}

// mkFolder creates a maildir (folder dir "" is INBOX: the Maildir itself).
func mkFolder(maildir, dir string, o owner) (string, error) {
	p := filepath.Join(maildir, dir)
	for _, d := range []string{maildir, p, filepath.Join(p, "cur"), filepath.Join(p, "new"), filepath.Join(p, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", err
		}
		if err := o.chown(d); err != nil {
			return "", err
		}
	}
	if dir != "" { // maildir++ marks a subfolder with this empty file
		f := filepath.Join(p, "maildirfolder")
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			return "", err
		}
		if err := o.chown(f); err != nil {
			return "", err
		}
	}
	return p, nil
}

// maildirName is Dovecot's file name: S= is the file size, W= the size
// with CRLF line endings (what IMAP reports as RFC822.SIZE).
func maildirName(n int, date time.Time, size, lines int64, flags string) string {
	return fmt.Sprintf("%d.M%dP4242Q%d.%s,S=%d,W=%d:2,%s", date.Unix(), n%1000000, n, benchHost, size, size+lines, flags)
}

// writeMessage stores raw in folder dir's cur/ with date as its internal
// (received) date, which is the file's mtime in Dovecot's maildir.
func writeMessage(dir string, n int, date time.Time, raw []byte, flags string, o owner) error {
	p := filepath.Join(dir, "cur", maildirName(n, date, int64(len(raw)), int64(bytes.Count(raw, []byte{'\n'})), flags))
	if err := os.WriteFile(p, raw, 0o600); err != nil {
		return err
	}
	if err := os.Chtimes(p, date, date); err != nil {
		return err
	}
	return o.chown(p)
}

// folderCounts splits n messages over benchFolders by their shares.
func folderCounts(n int) []int {
	counts := make([]int, len(benchFolders))
	sum := 0
	for i, f := range benchFolders {
		counts[i] = int(float64(n) * f.Share)
		sum += counts[i]
	}
	counts[0] += n - sum
	return counts
}

// mailStats are the expected per-folder counts of a generated mailbox.
type mailStats map[string]folderCount

type folderCount struct{ Messages, Unread int }

// generateMailbox writes n messages over benchFolders into maildir
// (nAttach of them with a 0.2-1 MB attachment) and returns the counts.
func generateMailbox(g *gen, maildir string, n, nAttach int, o owner) (mailStats, int64, error) {
	want := mailStats{}
	var total int64
	counts := folderCounts(n)
	every := max(1, n/max(1, nAttach))
	i := 0
	for fi, f := range benchFolders {
		dir, err := mkFolder(maildir, f.Dir, o)
		if err != nil {
			return nil, 0, err
		}
		fc := folderCount{}
		span := 2 * 365 * 24 * time.Hour
		for k := 0; k < counts[fi]; k++ {
			// Ascending dates over the last two years, a little jitter.
			date := genNow.Add(-span + time.Duration(float64(span)*float64(k)/float64(counts[fi]))).
				Add(time.Duration(g.r.IntN(3600)) * time.Second).Truncate(time.Second)
			s := msgSpec{Folder: f.Name, Date: date}
			if nAttach > 0 && i%every == every/2 && i/every < nAttach {
				s.Attach = 200<<10 + g.r.IntN(800<<10)
			}
			raw, flags := g.message(s, f.Odds)
			if err := writeMessage(dir, i, date, raw, flags, o); err != nil {
				return nil, 0, err
			}
			total += int64(len(raw))
			fc.Messages++
			if !strings.Contains(flags, "S") {
				fc.Unread++
			}
			i++
		}
		want[f.Name] = fc
	}
	return want, total, nil
}

// writeBigMessage streams a message with an attachment of attach bytes
// into folder dir (via tmp/, then renamed into cur/ under its final name,
// which holds the size): nothing the size of the message is in memory.
func writeBigMessage(g *gen, dir string, n int, attach int64, o owner) error {
	tmp := filepath.Join(dir, "tmp", fmt.Sprintf("big.%d", n))
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 256<<10)
	cw := &countWriter{w: bw}
	date := genNow.Add(-time.Hour)
	fmt.Fprintf(cw, "From: %s\nTo: %s\nSubject: Full backup export (%d MB)\nDate: %s\nMessage-ID: <big.%d.bench@example.com>\nMIME-Version: 1.0\n",
		addr("Backup Robot", "corp.example"), me, attach>>20, date.Format(time.RFC1123Z), n)
	fmt.Fprintf(cw, "Content-Type: multipart/mixed; boundary=\"=_big\"\n\n--=_big\nContent-Type: text/plain; charset=utf-8\n\nThe export is attached.\n\n")
	fmt.Fprintf(cw, "--=_big\nContent-Type: application/octet-stream; name=\"export.tar\"\nContent-Disposition: attachment; filename=\"export.tar\"\nContent-Transfer-Encoding: base64\n\n")
	if err := g.base64Body(cw, attach); err != nil {
		return err
	}
	fmt.Fprintf(cw, "\n--=_big--\n")
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	final := filepath.Join(dir, "cur", maildirName(n, date, cw.n, cw.lines, ""))
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	if err := os.Chtimes(final, date, date); err != nil {
		return err
	}
	return o.chown(final)
}

// countWriter counts bytes and newlines.
type countWriter struct {
	w        io.Writer
	n, lines int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.lines += int64(bytes.Count(p[:n], []byte{'\n'}))
	return n, err
}
