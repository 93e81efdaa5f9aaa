package imap

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

func TestNotificationResponsesAreParsed(t *testing.T) {
	for _, tc := range []struct {
		name string
		resp string
		want event
	}{
		{"status of an atom-named folder", "* STATUS Sub/Folder (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 1796010164 UNSEEN 1 HIGHESTMODSEQ 2)\r\n",
			event{kind: evFolder, folder: "Sub/Folder"}},
		{"status after a flag change carries no counts", "* STATUS Sub/Folder (UNSEEN 0 HIGHESTMODSEQ 3)\r\n",
			event{kind: evFolder, folder: "Sub/Folder"}},
		{"quoted name with a space and escapes", `* STATUS "Old \"Mail\" \\ 2020" (MESSAGES 0)` + "\r\n",
			event{kind: evFolder, folder: `Old "Mail" \ 2020`}},
		{"literal name", "* STATUS {8}\r\nA\r\nB (x) (MESSAGES 3)\r\n",
			event{kind: evFolder, folder: "A\r\nB (x)"}},
		{"literal+ name", "* STATUS {3+}\r\nabc (MESSAGES 3)\r\n",
			event{kind: evFolder, folder: "abc"}},
		{"modified UTF-7 name is decoded", "* STATUS \"Entw&APw-rfe &- Notizen\" (MESSAGES 1)\r\n",
			event{kind: evFolder, folder: "Entwürfe & Notizen"}},
		{"inbox in any case is INBOX", "* STATUS inbox (MESSAGES 4)\r\n",
			event{kind: evFolder, folder: "INBOX"}},
		{"undecodable name is a change somewhere", "* STATUS \"bad&AAA\" (MESSAGES 1)\r\n",
			event{kind: evFolderList}},
		{"folder created or renamed", "* LIST () \"/\" New\r\n", event{kind: evFolderList}},
		{"lower-case response name", "* status X (MESSAGES 1)\r\n", event{kind: evFolder, folder: "X"}},
		{"bye", "* BYE Server shutting down.\r\n", event{kind: evBye, text: "Server shutting down."}},
		{"overflow", "* OK [NOTIFICATIONOVERFLOW] ...\r\n", event{kind: evOverflow}},
		{"tagged completion", "N3 OK NOTIFY completed (0.003 + 0.000 secs).\r\n",
			event{kind: evTagged, tag: "N3", status: "OK", text: "NOTIFY completed (0.003 + 0.000 secs)."}},
		{"tagged refusal", "N1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n",
			event{kind: evTagged, tag: "N1", status: "NO", text: "[AUTHENTICATIONFAILED] Authentication failed."}},
		{"selected-folder data is not for this session", "* 3 EXISTS\r\n", event{}},
		{"vanished", "* VANISHED 1:3\r\n", event{}},
		{"capability", "* CAPABILITY IMAP4rev1 NOTIFY\r\n", event{}},
		{"continuation", "+ go ahead\r\n", event{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := readResponse(bufio.NewReader(strings.NewReader(tc.resp + "* next\r\n")))
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if string(resp) != tc.resp {
				t.Fatalf("read %q, want the whole response %q", resp, tc.resp)
			}
			got, err := parseResponse(resp)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestMalformedNotificationsAreErrorsNotGuesses(t *testing.T) {
	for _, resp := range []string{
		"\r\n",
		"*\r\n",
		"* STATUS\r\n",
		"* STATUS \"unterminated\r\n",
		"* STATUS {99}\r\nshort\r\n",
	} {
		if ev, err := parseResponse([]byte(resp)); err == nil && ev.kind != evNone {
			t.Errorf("%q parsed as %+v", resp, ev)
		}
	}
	huge := "* STATUS {999999999}\r\n"
	if _, err := readResponse(bufio.NewReader(strings.NewReader(huge))); err == nil {
		t.Errorf("a 1 GB literal was accepted")
	}
	long := "* " + strings.Repeat("x", maxLine+10) + "\r\n"
	if _, err := readResponse(bufio.NewReader(strings.NewReader(long))); err == nil {
		t.Errorf("an overlong line was accepted")
	}
}

func FuzzParseNotification(f *testing.F) {
	for _, s := range []string{
		"* STATUS Sub/Folder (MESSAGES 1 UIDNEXT 2)\r\n",
		"* STATUS {3}\r\nabc (MESSAGES 3)\r\n",
		"* STATUS \"a\\\"b\" (MESSAGES 1)\r\n",
		"* STATUS \"Entw&APw-rfe\" (MESSAGES 1)\r\n",
		"* LIST () \"/\" New\r\n",
		"N1 OK done\r\n",
		"* OK [NOTIFICATIONOVERFLOW]\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		for {
			resp, err := readResponse(r)
			if err != nil {
				return
			}
			ev, err := parseResponse(resp)
			if err == nil && ev.kind == evFolder && ev.folder == "" && !bytes.Contains(resp, []byte(`""`)) && !bytes.Contains(resp, []byte("{0")) {
				t.Fatalf("%q: a folder event without a folder", resp)
			}
		}
	})
}
