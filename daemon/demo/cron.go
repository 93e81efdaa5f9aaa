package demo

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// cronSubject is the subject of the report the demo's cron job mails.
const cronSubject = "Nightly backup report"

// cronReport is a cron job mailing its output during the outage: it runs
// `holdover sendmail -oi -t` (as a link /usr/sbin/sendmail would), which
// queues the message and exits 0 once it is on disk.
func (d *demo) cronReport(ctx context.Context) error {
	bin := d.opts.Holdover
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return fmt.Errorf("demo: the holdover binary for the cron job: %w", err)
		}
	}
	cmd := exec.CommandContext(ctx, bin, "sendmail", "--config", d.cfgPath, "-oi", "-t")
	cmd.Stdin = strings.NewReader("To: team@example.com\nSubject: " + cronSubject + "\n\nbackup.sh: 3 volumes saved, 0 errors.\n.\nEnd of report.\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("demo: the cron job's %s sendmail: %w: %s", bin, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
