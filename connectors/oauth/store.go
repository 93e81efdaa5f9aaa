package oauth

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/holdover/holdover/internal/atomicfile"
	hsync "github.com/holdover/holdover/sync"
)

// maxTokenFile bounds what is read from a token file or credential.
const maxTokenFile = 64 << 10

// TokenPath is where account's sign-in is kept under dataDir.
func TokenPath(dataDir, account string) string {
	return filepath.Join(dataDir, "tokens", account+".json")
}

// tokenFile is the JSON kept on disk. Seed is the SHA-256 of the
// systemd credential the refresh token came from, if any: a credential
// that changes (an admin provisioned a new sign-in) replaces the file's.
type tokenFile struct {
	AccessToken  string    `json:"access_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	Seed         string    `json:"seed,omitempty"`
	SavedAt      time.Time `json:"saved_at"`
}

func (f tokenFile) token() *oauth2.Token {
	return &oauth2.Token{AccessToken: f.AccessToken, TokenType: f.TokenType, RefreshToken: f.RefreshToken, Expiry: f.Expiry}
}

// stamp identifies a version of the token file without reading it.
type stamp struct {
	exists  bool
	modTime time.Time
	size    int64
}

func statStamp(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}
	}
	return stamp{true, fi.ModTime(), fi.Size()}
}

// errNoFile says that no token file exists (not an error of the file).
var errNoFile = errors.New("no token file")

// readTokenFile reads path, refusing a file or directory others can
// read. A missing file is errNoFile.
func readTokenFile(path string) (tokenFile, error) {
	var tf tokenFile
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return tf, errNoFile
	}
	if err != nil {
		return tf, fmt.Errorf("token file %s: %w", path, unwrapPath(err))
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return tf, fmt.Errorf("token file %s has mode %04o: refusing to read a sign-in others can read (run chmod 600 %s, or log in again)", path, perm, path)
	}
	if fi.Size() > maxTokenFile {
		return tf, fmt.Errorf("token file %s is larger than %d KiB", path, maxTokenFile>>10)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return tf, fmt.Errorf("token file %s: %w", path, unwrapPath(err))
	}
	if err := json.Unmarshal(b, &tf); err != nil {
		// json errors quote no input, but keep them out anyway.
		return tf, fmt.Errorf("token file %s is not a holdover token file (log in again to replace it)", path)
	}
	return tf, nil
}

// writeTokenFile replaces path (0600) in a directory made 0700.
func writeTokenFile(path string, tf tokenFile) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("token directory: %w", err)
	}
	// A directory made earlier by hand with a wider mode is narrowed: it
	// holds sign-ins.
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("token directory: %w", err)
		}
	}
	b, err := json.MarshalIndent(tf, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save token file %s: %w", path, unwrapPath(err))
	}
	return nil
}

// Remove forgets account's sign-in (holdover account logout). It reports
// whether there was one.
func Remove(dataDir, account string) (bool, error) {
	err := os.Remove(TokenPath(dataDir, account))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Info is what may be shown about a sign-in: never the tokens.
type Info struct {
	SignedIn bool `json:"signed_in"`
	// Expiry is when the cached access token expires (the refresh token
	// renews it; zero when unknown).
	Expiry time.Time `json:"expiry,omitzero"`
	// Problem says why the file cannot be used, if it cannot.
	Problem string `json:"problem,omitempty"`
}

// Stat describes account's stored sign-in.
func Stat(dataDir, account string) Info {
	tf, err := readTokenFile(TokenPath(dataDir, account))
	switch {
	case errors.Is(err, errNoFile):
		return Info{}
	case err != nil:
		return Info{Problem: err.Error()}
	}
	return Info{SignedIn: tf.RefreshToken != "" || tf.AccessToken != "", Expiry: tf.Expiry}
}

// readCredential reads the systemd credential name from
// $CREDENTIALS_DIRECTORY: a refresh token, one trailing newline allowed.
func readCredential(name string) (string, error) {
	dir := os.Getenv("CREDENTIALS_DIRECTORY")
	if dir == "" {
		return "", fmt.Errorf("refresh token credential %s: $CREDENTIALS_DIRECTORY is not set (it is set for a systemd service with LoadCredential=%s:<file>)", name, name)
	}
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return "", fmt.Errorf("invalid credential name %q", name)
	}
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return "", fmt.Errorf("refresh token credential %s: %w", name, unwrapPath(err))
	}
	defer f.Close()
	b := make([]byte, maxTokenFile)
	n, _ := f.Read(b)
	rt := strings.TrimSpace(string(b[:n]))
	if rt == "" {
		return "", fmt.Errorf("refresh token credential %s is empty", name)
	}
	return rt, nil
}

func seedOf(refreshToken string) string {
	h := sha256.Sum256([]byte(refreshToken))
	return hex.EncodeToString(h[:])
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// needsLogin is the NeedsLogin error of account with why.
func needsLogin(account, why string) error {
	return hsync.Errorf(hsync.NeedsLogin, "oauth2 sign-in", fmt.Errorf("%s: run `holdover account login %s`", why, account))
}
