package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A drop-in the daemon's user cannot read is a clear file:line error.
// As root every file is readable, so the check runs the binary as the
// unprivileged user nobody (uid 65534).
func TestUnreadableDropInIsAClearError(t *testing.T) {
	bin := holdoverBin(t)
	dir, err := os.MkdirTemp("", "holdover-perm-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sys := filepath.Join(dir, "etc")
	os.MkdirAll(filepath.Join(sys, "conf.d"), 0o755)
	os.WriteFile(filepath.Join(sys, "config.yaml"), []byte("data_dir: "+dir+"/data\naccounts:\n  - name: work\n    mail:\n      imap: {host: imap.example.com, username: me, password_env: PW}\n"), 0o644)
	secret := filepath.Join(sys, "conf.d", "50-secret.yaml")
	os.WriteFile(secret, []byte("sync: {interval: 1m}\n"), 0o000)
	for _, d := range []string{dir, filepath.Dir(bin)} {
		os.Chmod(d, 0o755)
	}

	cmd := exec.Command(bin, "--config", filepath.Join(sys, "config.yaml"), "config", "check")
	cmd.Env = append(os.Environ(), "HOLDOVER_SYSTEM_DIR="+sys, "HOME="+dir)
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Fatalf("config check: %v, want exit 1\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), secret) || !strings.Contains(stderr.String(), "permission denied") {
		t.Fatalf("stderr does not name the unreadable file:\n%s", stderr.String())
	}
}
