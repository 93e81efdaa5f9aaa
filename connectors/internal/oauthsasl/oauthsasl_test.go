package oauthsasl

import (
	"bytes"
	"strings"
	"testing"
)

func TestPickPrefersOAuthBearerAndIgnoresCase(t *testing.T) {
	for _, tc := range []struct {
		offered []string
		want    string
	}{
		{[]string{"PLAIN", "XOAUTH2", "OAUTHBEARER"}, OAuthBearer},
		{[]string{"plain", "xoauth2"}, XOAuth2},
		{[]string{"oauthbearer"}, OAuthBearer},
		{[]string{"PLAIN", "LOGIN"}, ""},
		{nil, ""},
	} {
		if got := Pick(tc.offered); got != tc.want {
			t.Errorf("Pick(%v) = %q, want %q", tc.offered, got, tc.want)
		}
	}
}

func TestInitialResponsesHaveTheDocumentedFormat(t *testing.T) {
	for _, tc := range []struct {
		c        Client
		mech, ir string
	}{
		{NewClient(XOAuth2, "alice@example.com", "T0K", nil), XOAuth2, "user=alice@example.com\x01auth=Bearer T0K\x01\x01"},
		{NewClient(OAuthBearer, "alice@example.com", "T0K", nil), OAuthBearer, "n,a=alice@example.com,\x01auth=Bearer T0K\x01\x01"},
		{NewClient("oauthbearer", "a,b=c", "T0K", nil), OAuthBearer, "n,a=a=2Cb=3Dc,\x01auth=Bearer T0K\x01\x01"},
	} {
		mech, ir, err := tc.c.Start()
		if err != nil || mech != tc.mech || string(ir) != tc.ir {
			t.Errorf("Start() = %q, %q, %v; want %q, %q", mech, ir, err, tc.mech, tc.ir)
		}
	}
}

func TestErrorChallengeIsAnsweredSoTheServerCanSayNo(t *testing.T) {
	challenge := []byte(`{"status":"invalid_token","schemes":"bearer","scope":"mail"}`)
	for _, tc := range []struct {
		name string
		c    Client
		want []byte
	}{
		{"OAUTHBEARER answers \\x01 (RFC 7628 §3.2.3)", NewClient(OAuthBearer, "u", "secret-token", nil), []byte{1}},
		{"XOAUTH2 answers empty by default, non-nil", NewClient(XOAuth2, "u", "secret-token", nil), []byte{}},
		{"XOAUTH2 answers as configured", NewClient(XOAuth2, "u", "secret-token", []byte{1}), []byte{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.c.Refused() != nil {
				t.Fatal("refused before any challenge")
			}
			resp, err := tc.c.Next(challenge)
			if err != nil || resp == nil || !bytes.Equal(resp, tc.want) {
				t.Fatalf("Next = %q, %v; want %q", resp, err, tc.want)
			}
			r := tc.c.Refused()
			if r == nil || r.Status != "invalid_token" || r.Scope != "mail" {
				t.Fatalf("Refused() = %+v", r)
			}
			if strings.Contains(r.Error(), "secret-token") {
				t.Fatalf("the token leaked into %q", r.Error())
			}
		})
	}
	// A challenge that is not JSON is still a refusal.
	c := NewClient(OAuthBearer, "u", "t", nil)
	if _, err := c.Next([]byte("garbage")); err != nil || c.Refused() == nil {
		t.Fatalf("garbage challenge: err %v, refused %v", err, c.Refused())
	}
}
