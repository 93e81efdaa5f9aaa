package installer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultStarterConfig is the configuration Install writes when
// Options.StarterConfig is nil and no file exists at ConfigPath. Every
// setting is commented out except the log defaults, so holdover starts
// with nothing to sync until the person adds an account.
var DefaultStarterConfig = []byte(`# holdover configuration, written by "holdover install".
# holdover install never overwrites this file; edit it, then restart the
# service (holdover restart). See docs/config.md for every key.

# data_dir holds holdover.db, the lock file and the control socket.
# Default: /var/lib/holdover for the system service, else
# $XDG_DATA_HOME/holdover (~/.local/share/holdover).
# data_dir: /var/lib/holdover

log:
  level: info    # debug | info | warn | error
  format: text   # text | json

# listen:                 # local endpoints; loopback unless you say otherwise
#   control: ""            # control socket; "" = <data_dir>/holdover.sock

# accounts:
#   - name: personal
#     mail:
#       imap:
#         host: imap.example.org
#         port: 993
#         tls: tls
#         username: me@example.org
#         # One password source: password_command, password_file,
#         # password_env or, under the system service,
#         # password_credential: NAME (installed with --credential NAME).
#         password_command: pass show mail/me@example.org

# sync:
#   interval: 5m           # how often every account is synced
`)

// ownership is the owner given to what Install creates; -1 keeps the
// creating process's uid or gid.
type ownership struct{ uid, gid int }

func (o ownership) apply(path string) error {
	if o.uid < 0 && o.gid < 0 {
		return nil
	}
	if err := os.Chown(path, o.uid, o.gid); err != nil {
		return fmt.Errorf("installer: %w", err)
	}
	return nil
}

// makeFiles creates the starter configuration and the directories the
// service needs. Nothing that exists already is modified: an existing
// directory keeps its mode and owner, an existing configuration file its
// content, mode and owner.
func (r *resolved) makeFiles(acct ownership, res *InstallResult) error {
	system := r.Scope == System && r.goos != "windows"
	parents := os.FileMode(0o700) // XDG: created user directories are 0700
	if r.Scope == System {
		parents = 0o755
	}
	group := ownership{uid: -1, gid: -1} // root:holdover for System files
	if system {
		group.gid = acct.gid
	}

	dir := filepath.Dir(r.ConfigPath)
	if created, err := mkdirMode(dir, 0o750, parents); err != nil {
		return err
	} else if created {
		if err := group.apply(dir); err != nil {
			return err
		}
	}
	mode := os.FileMode(0o600)
	if system {
		mode = 0o640 // readable by the service account's group
	}
	created, err := writeNew(r.ConfigPath, r.StarterConfig, mode, group)
	if err != nil {
		return fmt.Errorf("installer: write the starter configuration: %w", err)
	}
	res.ConfigCreated = created

	type want struct {
		dir  string
		mode os.FileMode
		own  ownership
	}
	var dirs []want
	if len(r.Credentials) > 0 {
		switch {
		case r.goos == "darwin" && system:
			// No LoadCredential=: the service account reads the files.
			dirs = append(dirs, want{r.CredentialsDir, 0o750, group})
		default:
			// systemd reads them as root; User scope: the user's own.
			dirs = append(dirs, want{r.CredentialsDir, 0o700, ownership{-1, -1}})
		}
	}
	if r.goos == "darwin" {
		// launchd has no StateDirectory=; the log files are opened as the
		// service account.
		if system {
			dirs = append(dirs, want{r.DataDir, 0o750, acct}, want{r.LogDir, 0o750, acct})
		} else {
			dirs = append(dirs, want{r.LogDir, 0o700, ownership{-1, -1}})
		}
	}
	for _, d := range dirs {
		created, err := mkdirMode(d.dir, d.mode, parents)
		if err != nil {
			return err
		}
		if created {
			if err := d.own.apply(d.dir); err != nil {
				return err
			}
		}
	}
	return nil
}

// mkdirMode creates dir with exactly mode (whatever the umask) and its
// missing parents with parentMode. It reports whether it created dir.
func mkdirMode(dir string, mode, parentMode os.FileMode) (bool, error) {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return false, fmt.Errorf("installer: %s exists and is not a directory", dir)
		}
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("installer: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dir), parentMode); err != nil {
		return false, fmt.Errorf("installer: %w", err)
	}
	if err := os.Mkdir(dir, mode); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("installer: %w", err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		return true, fmt.Errorf("installer: %w", err)
	}
	return true, nil
}

// writeNew creates path with data, mode and owner unless something (even
// a dangling symlink) exists there. The file appears complete or not at
// all: it is written to a temp file in the same directory and hard-linked
// into place, and a link never replaces an existing name, so a file
// created concurrently is not overwritten either. It reports whether it
// created the file.
func writeNew(path string, data []byte, mode os.FileMode, own ownership) (bool, error) {
	if _, err := os.Lstat(path); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = own.apply(tmp.Name())
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return writeExclusive(path, data, mode, own)
	}
	return true, nil
}

// writeExclusive is writeNew for file systems without hard links: O_EXCL
// still never overwrites, but a crash can leave a partial file.
func writeExclusive(path string, data []byte, mode os.FileMode, own ownership) (bool, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = own.apply(path)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return false, err
	}
	return true, nil
}
