package config

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSecretResolve(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("HOLDOVER_TEST_PW", "env-secret")
	t.Setenv("HOLDOVER_TEST_EMPTY", "")
	tests := []struct {
		name    string
		secret  Secret
		want    string
		wantErr string // substring; "" means success
	}{
		{"command output", Secret{PasswordCommand: "printf 'cmd-secret\\n'"}, "cmd-secret", ""},
		{"command trims one newline only", Secret{PasswordCommand: "printf 'pw \\n\\n'"}, "pw \n", ""},
		{"command trims CRLF", Secret{PasswordCommand: "printf 'pw\\r\\n'"}, "pw", ""},
		{"command without newline", Secret{PasswordCommand: "printf pw"}, "pw", ""},
		{"file", Secret{PasswordFile: file("pw", "file-secret\n")}, "file-secret", ""},
		{"env", Secret{PasswordEnv: "HOLDOVER_TEST_PW"}, "env-secret", ""},
		{"empty command output", Secret{PasswordCommand: "true"}, "", "password from command is empty"},
		{"empty file", Secret{PasswordFile: file("empty", "\n")}, "", "password from file " + dir + "/empty is empty"},
		{"missing file", Secret{PasswordFile: dir + "/nope"}, "", "password file " + dir + "/nope: no such file or directory"},
		{"unset env", Secret{PasswordEnv: "HOLDOVER_TEST_UNSET"}, "", "environment variable HOLDOVER_TEST_UNSET is not set"},
		{"empty env", Secret{PasswordEnv: "HOLDOVER_TEST_EMPTY"}, "", "password from env HOLDOVER_TEST_EMPTY is empty"},
		{"no source", Secret{}, "", "no password source"},
		{"two sources", Secret{PasswordEnv: "HOLDOVER_TEST_PW", PasswordFile: "/x"}, "", "more than one password source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.secret.Resolve(context.Background())
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Errorf("Resolve() = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Resolve() error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestSecretMissingFileIsNotExist(t *testing.T) {
	_, err := Secret{PasswordFile: filepath.Join(t.TempDir(), "nope")}.Resolve(context.Background())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(%v, fs.ErrNotExist) = false", err)
	}
}

func TestFailingCommandErrorHidesSecrets(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		name    string
		command string
		want    []string // substrings of the error
	}{
		{
			name:    "exit status and first stderr line",
			command: "echo hunter2; echo 'gpg: decryption failed: No secret key' >&2; echo 'second line' >&2; exit 3",
			want:    []string{"password command failed: exit status 3: gpg: decryption failed: No secret key"},
		},
		{
			name:    "no stderr",
			command: "echo hunter2; exit 1",
			want:    []string{"password command failed: exit status 1"},
		},
		{
			name:    "stderr truncated to 200 characters",
			command: "echo hunter2; echo " + long + " >&2; exit 2",
			want:    []string{"exit status 2: " + long[:200] + "..."},
		},
		{
			name:    "killed by a signal",
			command: "echo hunter2; kill -9 $$",
			want:    []string{"password command failed: signal: killed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Secret{PasswordCommand: tt.command}
			_, err := s.Resolve(context.Background())
			if err == nil {
				t.Fatal("Resolve succeeded")
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			// Neither stdout nor the command line (which may embed the
			// password) may leak, nor stderr past its first line.
			for _, leak := range []string{"hunter2", "echo", "second line", long[:201]} {
				if strings.Contains(msg, leak) {
					t.Errorf("error %q reveals %q", msg, leak)
				}
			}
		})
	}
}

func TestCommandStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	// The background sleep keeps stdout open after sh is killed.
	_, err := Secret{PasswordCommand: "sleep 30 & sleep 30"}.Resolve(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "did not finish in time") {
		t.Errorf("error = %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Resolve took %v after its context expired", d)
	}
}

func TestSecretSource(t *testing.T) {
	tests := []struct {
		s    Secret
		want string
	}{
		{Secret{PasswordCommand: "pass show mail hunter2"}, "command"},
		{Secret{PasswordFile: "/run/secrets/mail"}, "file /run/secrets/mail"},
		{Secret{PasswordEnv: "DAV_PASSWORD"}, "env DAV_PASSWORD"},
		{Secret{PasswordCredential: "mail-password"}, "credential mail-password"},
		{Secret{}, "none"},
	}
	for _, tt := range tests {
		if got := tt.s.Source(); got != tt.want {
			t.Errorf("%+v.Source() = %q, want %q", tt.s, got, tt.want)
		}
	}
}

func TestPasswordCredential(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "imap"), []byte("cred-secret\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", dir)
	if pw, err := (Secret{PasswordCredential: "imap"}).Resolve(context.Background()); err != nil || pw != "cred-secret" {
		t.Errorf("Resolve = %q, %v", pw, err)
	}
	_, err := Secret{PasswordCredential: "smtp"}.Resolve(context.Background())
	if err == nil || err.Error() != "password credential smtp: no such credential in $CREDENTIALS_DIRECTORY ("+dir+"); add LoadCredential=smtp:<file> to the service unit" {
		t.Errorf("missing credential: %v", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(%v, fs.ErrNotExist) = false", err)
	}
	for _, bad := range []string{"../imap", "a/b", "..", "."} {
		if _, err := (Secret{PasswordCredential: bad}).Resolve(context.Background()); err == nil || !strings.Contains(err.Error(), "invalid credential name") {
			t.Errorf("credential %q: error = %v", bad, err)
		}
	}
	if _, err := (Secret{PasswordCredential: "imap", PasswordEnv: "X"}).Resolve(context.Background()); err == nil || !strings.Contains(err.Error(), "more than one") {
		t.Errorf("two sources: %v", err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	_, err = Secret{PasswordCredential: "imap"}.Resolve(context.Background())
	if err == nil || !strings.Contains(err.Error(), "password credential imap: $CREDENTIALS_DIRECTORY is not set") || !strings.Contains(err.Error(), "LoadCredential=imap:") {
		t.Errorf("no CREDENTIALS_DIRECTORY: %v", err)
	}
}

func TestPasswordCredentialIsValidated(t *testing.T) {
	isolate(t)
	_, err := Load(writeConfig(t, `
accounts:
	- name: a
	  mail:
	    imap: {host: h, username: u, password_credential: ../etc/shadow}
	    smtp: {host: h, username: u, password_credential: smtp, password_env: P}
`))
	wantErrs(t, err,
		`:5: accounts[0].mail.imap.password_credential: invalid credential name "../etc/shadow": write a plain file name`,
		`:6: accounts[0].mail.smtp.password_credential: password_credential and password_env (line 6) are both set`)
}
