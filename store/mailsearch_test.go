package store

import "testing"

func TestMailSearchQueryQuotesEveryTermAndMapsFields(t *testing.T) {
	cases := []struct{ in, want string }{
		{`budget`, `"budget"`},
		{`from:alice "board meeting"`, `from_addr : "alice" AND "board meeting"`},
		{`subject:"q3 report" body:draft`, `subject : "q3 report" AND body : "draft"`},
		{`NEAR(a b) OR x*`, `"NEAR(a" AND "b)" AND "OR" AND "x*"`},
	}
	for _, c := range cases {
		got, err := MailSearchQuery(c.in)
		if err != nil || got != c.want {
			t.Errorf("MailSearchQuery(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{``, `   `, `cc:bob`, `"unclosed`} {
		if _, err := MailSearchQuery(bad); err == nil {
			t.Errorf("MailSearchQuery(%q) succeeded", bad)
		}
	}
}
