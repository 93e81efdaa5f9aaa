package sync

import (
	"errors"
	"fmt"
	"testing"
)

func TestKindOfDefaultsToTransientAndSeesThroughWrapping(t *testing.T) {
	base := errors.New("boom")
	cases := []struct {
		err  error
		want Kind
	}{
		{base, Transient},
		{Errorf(Auth, "imap login", base), Auth},
		{fmt.Errorf("folder INBOX: %w", Errorf(Permanent, "imap fetch", base)), Permanent},
		{Errorf(Conflict, "put", base), Conflict},
	}
	for _, c := range cases {
		if got := KindOf(c.err); got != c.want {
			t.Errorf("KindOf(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	if Errorf(Auth, "x", nil) != nil {
		t.Error("Errorf(nil) is not nil")
	}
	if !errors.Is(Errorf(Auth, "x", base), base) {
		t.Error("Error does not unwrap")
	}
}

func TestNeedsLoginIsAKindOfItsOwn(t *testing.T) {
	err := fmt.Errorf("smtp login: %w", Errorf(NeedsLogin, "oauth2 sign-in", errors.New("invalid_grant")))
	if KindOf(err) != NeedsLogin || NeedsLogin.String() != "needs-login" {
		t.Errorf("KindOf = %v (%q)", KindOf(err), NeedsLogin.String())
	}
}
