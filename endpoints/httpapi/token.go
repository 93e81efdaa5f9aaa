package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/holdover/holdover/internal/atomicfile"
)

// TokenFile is the API token's file name in the data directory.
const TokenFile = "api-token"

// tokenBytes is the token's entropy: 256 bits, written as 64 hex digits.
const tokenBytes = 32

// LoadOrCreateToken returns the API token of dataDir, creating it at the
// daemon's first start (mode 0600). A token file that others can read is
// no secret any more: it is replaced by a new one, and replaced reports
// that so the daemon can say why old bearers stopped working.
func LoadOrCreateToken(dataDir string) (token string, replaced bool, err error) {
	path := filepath.Join(dataDir, TokenFile)
	fi, err := os.Lstat(path)
	switch {
	case err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o077 == 0:
		t, err := ReadToken(dataDir)
		if err == nil {
			return t, false, nil
		}
		replaced = true // unreadable or malformed: start over
	case err == nil:
		replaced = true
	case !errors.Is(err, os.ErrNotExist):
		return "", false, fmt.Errorf("%s: %w", path, err)
	}
	b := make([]byte, tokenBytes)
	rand.Read(b) // never fails (crypto/rand panics rather than return short)
	token = hex.EncodeToString(b)
	if replaced {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", false, fmt.Errorf("%s: %w", path, err)
		}
	}
	if err := atomicfile.Write(path, []byte(token+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("%s: %w", path, err)
	}
	return token, replaced, nil
}

// ReadToken reads the API token of dataDir (for the CLI).
func ReadToken(dataDir string) (string, error) {
	path := filepath.Join(dataDir, TokenFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("API token: %w (the daemon creates it at its first start)", err)
	}
	t := strings.TrimSpace(string(b))
	if len(t) != 2*tokenBytes {
		return "", fmt.Errorf("API token %s: malformed (delete it and restart the daemon for a new one)", path)
	}
	if _, err := hex.DecodeString(t); err != nil {
		return "", fmt.Errorf("API token %s: malformed (delete it and restart the daemon for a new one)", path)
	}
	return t, nil
}
