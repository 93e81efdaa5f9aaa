package imapd_test

import (
	"regexp"
	"strings"
	"testing"
)

// A FETCH answers each message of its set once, in sequence order,
// however the set is written (ranges out of order, overlapping, reversed,
// "*"), as RFC 9051 6.4.5 has it.
func TestFetchAnswersEachMessageOfTheSetOnceInOrder(t *testing.T) {
	e := newFuzzEndpoint(t) // INBOX holds UIDs 1-12
	c := e.client(t)
	c.login(t)
	c.selectInbox(t)
	fetched := regexp.MustCompile(`(?m)^\* (\d+) FETCH \(UID (\d+)\)`)
	for i, tc := range []struct{ cmd, want string }{
		{"FETCH 3,1:2,2 UID", "1=1 2=2 3=3"},
		{"FETCH 11:* UID", "11=11 12=12"},
		{"FETCH *:11 UID", "11=11 12=12"},
		{"FETCH 12:20 UID", "12=12"},
		{"UID FETCH 12,2:1,5:3,4 UID", "1=1 2=2 3=3 4=4 5=5 12=12"},
		{"UID FETCH 20:* UID", "12=12"},
		{"UID FETCH 13:20 UID", ""},
	} {
		tag := "t" + string(rune('a'+i))
		out := c.cmd(t, tag, tc.cmd)
		var got []string
		for _, m := range fetched.FindAllStringSubmatch(out, -1) {
			got = append(got, m[1]+"="+m[2])
		}
		if strings.Join(got, " ") != tc.want || !strings.HasPrefix(tagged(out, tag), tag+" OK") {
			t.Errorf("%s: %q, want %q\n%s", tc.cmd, strings.Join(got, " "), tc.want, out)
		}
	}
}
