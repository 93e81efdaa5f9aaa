package main

import (
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func TestSendmailCommandLines(t *testing.T) {
	tests := []struct {
		name string
		args string
		want sendmailOpts
	}{
		{"mutt's default", "-oem -oi -- bob@example.com", sendmailOpts{keepDots: true, rcpts: []string{"bob@example.com"}}},
		{"mutt with an envelope sender, 8-bit body and DSN",
			"-oem -oi -B8BITMIME -f jane@example.com -N success,failure -R hdrs -- bob@example.com carol@example.com",
			sendmailOpts{keepDots: true, sender: "jane@example.com", rcpts: []string{"bob@example.com", "carol@example.com"}}},
		{"git send-email", "-f jane@example.com -i bob@example.com carol@example.com",
			sendmailOpts{keepDots: true, sender: "jane@example.com", rcpts: []string{"bob@example.com", "carol@example.com"}}},
		{"bsd-mailx and cron", "-oi -t", sendmailOpts{keepDots: true, fromHeaders: true}},
		{"cron with recipients", "-i -- bob@example.com", sendmailOpts{keepDots: true, rcpts: []string{"bob@example.com"}}},
		{"Debian cron", "-FCronDaemon -i -B8BITMIME -oem bob@example.com",
			sendmailOpts{keepDots: true, fullName: "CronDaemon", rcpts: []string{"bob@example.com"}}},
		{"cronie", "-FCronDaemon -i -odi -oem -oi -t -f root",
			sendmailOpts{keepDots: true, fromHeaders: true, fullName: "CronDaemon", sender: "root"}},
		{"PHP mail()", "-t -i", sendmailOpts{keepDots: true, fromHeaders: true}},
		{"logwatch and smartd pipes", "-t", sendmailOpts{fromHeaders: true}},
		{"grouped flags", "-ti", sendmailOpts{keepDots: true, fromHeaders: true}},
		{"a flag grouped with a valued option", "-tfjane@example.com", sendmailOpts{fromHeaders: true, sender: "jane@example.com"}},
		{"-r is the old -f", "-r jane@example.com -t", sendmailOpts{fromHeaders: true, sender: "jane@example.com"}},
		{"-F apart, a name with spaces", "-F|Cron Daemon|-t", sendmailOpts{fromHeaders: true, fullName: "Cron Daemon"}},
		{"every -o form is ignored but -oi", "-odb -om -oQ/var/spool/mqueue -oA/etc/aliases -o em -O DeliveryMode=b -t",
			sendmailOpts{fromHeaders: true}},
		{"-o i apart is -oi", "-o i -t", sendmailOpts{keepDots: true, fromHeaders: true}},
		{"a -oX value apart ends the options, as in Postfix", "-oX value bob@example.com", sendmailOpts{rcpts: []string{"value", "bob@example.com"}}},
		{"other ignored options", "-B 7BIT -N never -R full -V envid42 -U -v -G -em -ep -eq -bm -h 17 -L tag -C /etc/mail/sendmail.cf -Am -m -n -x -c bob@example.com",
			sendmailOpts{rcpts: []string{"bob@example.com"}}},
		{"-V alone (Postfix < 2.3 VERP)", "-t -V", sendmailOpts{fromHeaders: true}},
		{"holdover's own options", "--config /etc/holdover/config.yaml --account=work -a home -t",
			sendmailOpts{fromHeaders: true, config: "/etc/holdover/config.yaml", account: "home"}},
		{"after --, an address may start with a dash", "-i -- -list@example.com", sendmailOpts{keepDots: true, rcpts: []string{"-list@example.com"}}},
		{"-bp lists the queue", "-bp", sendmailOpts{mode: modeListQueue}},
		{"--help", "--help", sendmailOpts{mode: modeHelp}},
		{"-h alone is help", "-h", sendmailOpts{mode: modeHelp}},
		{"a comma-separated list stays one argument", "-i bob@example.com,carol@example.com", sendmailOpts{keepDots: true, rcpts: []string{"bob@example.com,carol@example.com"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSendmailArgs(splitArgs(tt.args))
			if err != nil {
				t.Fatalf("parse %q: %v", tt.args, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parse %q =\n %+v\nwant\n %+v", tt.args, got, tt.want)
			}
		})
	}
}

// splitArgs splits a command line at spaces, or at "|" when it has one
// (for an argument holding a space).
func splitArgs(s string) []string {
	if strings.Contains(s, "|") {
		return strings.Split(s, "|")
	}
	return strings.Fields(s)
}

func TestSendmailCommandLinesRefused(t *testing.T) {
	tests := []struct {
		name, args, want string
	}{
		{"an unknown single-letter option", "-k bob@example.com", "unknown sendmail option -k"},
		{"an unknown letter in a group", "-tk", "unknown sendmail option -k"},
		{"an unknown long option", "--verbose", "unknown sendmail option --verbose"},
		{"-f without its value", "-f", "-f needs a value"},
		{"--config without its value", "--config", "--config needs a value"},
		{"-bs", "-bs", "listen.smtp"},
		{"daemon mode", "-bd", "holdover run"},
		{"address verification", "-bv bob@example.com", "-bv is not supported"},
		{"a queue run", "-q", "sends queued mail by itself"},
		{"a queue interval", "-q30m", "sends queued mail by itself"},
		{"newaliases", "-I", "no alias database"},
		{"a bad body type", "-B binary", "8BITMIME or 7BIT"},
		{"an option after the recipients", "bob@example.com -f jane@example.com", "after the recipients"},
		{"-bp with recipients", "-bp bob@example.com", "takes no recipients"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseSendmailArgs(strings.Fields(tt.args))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("parse %q: err = %v, want one containing %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestSendmailInput(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		keepDots bool
		want     string
	}{
		{"a lone dot ends the message", "Subject: x\n\nline\n.\nafter\n", false, "Subject: x\n\nline\n"},
		{"a lone dot with CRLF ends it too", "Subject: x\r\n\r\nline\r\n.\r\nafter\r\n", false, "Subject: x\r\n\r\nline\r\n"},
		{"a dot at the very end ends it", "Subject: x\n\nline\n.", false, "Subject: x\n\nline\n"},
		{"-i keeps a lone dot", "Subject: x\n\nline\n.\nafter\n", true, "Subject: x\n\nline\n.\nafter\n"},
		{"dots are not unstuffed", "Subject: x\n\n..line\n.x\n", false, "Subject: x\n\n..line\n.x\n"},
		{"a dot inside a line is data", "Subject: x\n\na.\n .\n", false, "Subject: x\n\na.\n .\n"},
		{"a leading mbox From line is dropped", "From jane@example.com Mon Nov 30 03:00:00 2026\nSubject: x\n\nbody\n", true, "Subject: x\n\nbody\n"},
		{"a From line later is kept", "Subject: x\n\nFrom here on\n", true, "Subject: x\n\nFrom here on\n"},
		{"a dot after a line longer than the buffer is still a line of its own",
			"Subject: x\n\n" + strings.Repeat("y", 10000) + "\n.\nafter\n", false, "Subject: x\n\n" + strings.Repeat("y", 10000) + "\n"},
		{"a long line ending in a dot is data", "Subject: x\n\n" + strings.Repeat("y", 4096) + ".\nz\n", false, "Subject: x\n\n" + strings.Repeat("y", 4096) + ".\nz\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(tt.in), iotest.OneByteReader(strings.NewReader(tt.in))} {
				got, err := io.ReadAll(sendmailInput(r, tt.keepDots))
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != tt.want {
					t.Fatalf("read %q, want %q", got, tt.want)
				}
			}
		})
	}
}

func TestSendmailInputErrorIsBadData(t *testing.T) {
	_, err := io.ReadAll(sendmailInput(iotest.TimeoutReader(strings.NewReader("Subject: x\n\nbody\n")), false))
	if err == nil {
		t.Fatal("no error from a failing stdin")
	}
	if code := sendmailExitCode(err); code != exDataErr {
		t.Fatalf("exit code %d for %v, want %d", code, err, exDataErr)
	}
}

func TestTheBinaryStandsInForSendmailAndMailq(t *testing.T) {
	tests := []struct {
		argv, want []string
	}{
		{[]string{"/usr/sbin/sendmail", "-oi", "-t"}, []string{"sendmail", "-oi", "-t"}},
		{[]string{"mailq"}, []string{"sendmail", "-bp"}},
		{[]string{"/usr/local/bin/holdover", "status"}, []string{"status"}},
	}
	for _, tt := range tests {
		if got := sendmailArgs(tt.argv); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("sendmailArgs(%q) = %q, want %q", tt.argv, got, tt.want)
		}
	}
}
