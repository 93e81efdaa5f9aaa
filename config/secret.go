package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
	"unicode"
)

const (
	// commandTimeout bounds a password_command, on top of the caller's
	// context. It leaves time for a pinentry prompt or a hardware token.
	commandTimeout = time.Minute
	// maxSecretSize bounds what is read from a command or file.
	maxSecretSize = 64 << 10
	// maxStderr is how much of a failing command's stderr is quoted.
	maxStderr = 200
)

// Source describes where the password comes from without revealing it:
// "command", "file /run/secrets/mail", "env DAV_PASSWORD",
// "credential mail-password", or "none". The
// command itself is left out since it may embed a password.
func (s Secret) Source() string {
	switch {
	case s.PasswordCommand != "":
		return "command"
	case s.PasswordFile != "":
		return "file " + s.PasswordFile
	case s.PasswordEnv != "":
		return "env " + s.PasswordEnv
	case s.PasswordCredential != "":
		return "credential " + s.PasswordCredential
	}
	return "none"
}

// Resolve fetches the password:
//
//   - password_command runs with "sh -c" (stdin empty, at most one minute
//     or until ctx is done) and its standard output is the password;
//   - password_file is read (holdover does not check its permissions:
//     keep it mode 0600 or 0400);
//   - password_env is read from holdover's environment;
//   - password_credential is the file $CREDENTIALS_DIRECTORY/<name>, which
//     systemd provides to a service with LoadCredential= (and the like).
//
// One trailing newline ("\n" or "\r\n") is removed. An empty password
// is an error. Errors never contain the password, the command line or the
// command's standard output; a failing command's error gives its exit
// status and the first line of its standard error (at most 200
// characters).
func (s Secret) Resolve(ctx context.Context) (string, error) {
	var (
		pw  []byte
		err error
	)
	switch n := s.count(); {
	case n == 0:
		return "", errors.New("no password source configured")
	case n > 1:
		return "", errors.New("more than one password source configured")
	case s.PasswordCommand != "":
		pw, err = s.runCommand(ctx)
	case s.PasswordFile != "":
		pw, err = readSecretFile(s.PasswordFile)
	case s.PasswordCredential != "":
		pw, err = readCredential(s.PasswordCredential)
	default:
		v, ok := os.LookupEnv(s.PasswordEnv)
		if !ok {
			return "", fmt.Errorf("password: environment variable %s is not set", s.PasswordEnv)
		}
		pw = []byte(v)
	}
	if err != nil {
		return "", err
	}
	pw = trimNewline(pw)
	if len(pw) == 0 {
		return "", fmt.Errorf("password from %s is empty", s.Source())
	}
	return string(pw), nil
}

func (s Secret) count() int {
	n := 0
	for _, v := range []string{s.PasswordCommand, s.PasswordFile, s.PasswordEnv, s.PasswordCredential} {
		if v != "" {
			n++
		}
	}
	return n
}

func trimNewline(b []byte) []byte {
	if b, ok := bytes.CutSuffix(b, []byte("\n")); ok {
		return bytes.TrimSuffix(b, []byte("\r"))
	}
	return b
}

func (s Secret) runCommand(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", s.PasswordCommand)
	stdout := &limitedBuffer{max: maxSecretSize}
	stderr := &limitedBuffer{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// A grandchild keeping the pipes open must not hang Resolve.
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	switch {
	case ctx.Err() != nil:
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("password command did not finish in time: %w", ctx.Err())
		}
		return nil, fmt.Errorf("password command interrupted: %w", ctx.Err())
	case err != nil:
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			// Starting sh failed; the error names sh, not the command.
			return nil, fmt.Errorf("password command could not run: %v", err)
		}
		msg := "password command failed: " + ee.ProcessState.String()
		if line := firstLine(stderr.Bytes()); line != "" {
			msg += ": " + line
		}
		return nil, errors.New(msg)
	case stdout.overflow:
		return nil, fmt.Errorf("password command printed more than %d KiB", maxSecretSize>>10)
	}
	return stdout.Bytes(), nil
}

// firstLine returns the first non-blank line of b, trimmed, with control
// characters replaced and cut to maxStderr characters.
func firstLine(b []byte) string {
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		line = strings.Map(func(r rune) rune {
			if unicode.IsControl(r) || r == unicode.ReplacementChar {
				return '?'
			}
			return r
		}, line)
		if r := []rune(line); len(r) > maxStderr {
			line = string(r[:maxStderr]) + "..."
		}
		return line
	}
	return ""
}

// limitedBuffer keeps at most max bytes and remembers whether more came.
type limitedBuffer struct {
	bytes.Buffer
	max      int
	overflow bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.overflow = true
		b.Buffer.Write(p[:max(room, 0)])
		return len(p), nil // keep draining so the command is not blocked
	}
	return b.Buffer.Write(p)
}

// credentialNameError says why name cannot be a systemd credential name,
// or returns "". Like systemd, it wants a plain file name: not empty, not
// "." or "..", no "/" (nor NUL), so it cannot leave the directory.
func credentialNameError(name string) string {
	switch {
	case name == "", name == ".", name == "..", strings.ContainsAny(name, "/\x00"):
		return fmt.Sprintf("invalid credential name %q: write a plain file name (no '/', not '.' or '..')", name)
	case len(name) > 255:
		return "invalid credential name: longer than 255 bytes"
	}
	return ""
}

// readCredential reads the systemd credential name from
// $CREDENTIALS_DIRECTORY.
func readCredential(name string) ([]byte, error) {
	if msg := credentialNameError(name); msg != "" {
		return nil, errors.New("password_credential: " + msg)
	}
	dir := os.Getenv("CREDENTIALS_DIRECTORY")
	if dir == "" {
		return nil, fmt.Errorf("password credential %s: $CREDENTIALS_DIRECTORY is not set; password_credential works when holdover runs as a systemd service with LoadCredential=%s:<file> (or SetCredential=, ImportCredential=)", name, name)
	}
	b, err := readSecretFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, causedBy{fmt.Sprintf("password credential %s: no such credential in $CREDENTIALS_DIRECTORY (%s); add LoadCredential=%s:<file> to the service unit", name, dir, name), fs.ErrNotExist}
	}
	return b, err
}

// causedBy is an error with its own message and an underlying cause for
// errors.Is.
type causedBy struct {
	msg   string
	cause error
}

func (e causedBy) Error() string { return e.msg }
func (e causedBy) Unwrap() error { return e.cause }

func readSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("password file %s: %w", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretSize+1))
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("password file %s: %w", path, err)
	}
	if len(b) > maxSecretSize {
		return nil, fmt.Errorf("password file %s is larger than %d KiB", path, maxSecretSize>>10)
	}
	return b, nil
}
