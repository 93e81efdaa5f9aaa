package main

import (
	"fmt"
	"os"
	"sync"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/holdover/holdover/daemon"
	"github.com/holdover/holdover/sync/mailsync"
)

func (a *app) syncCmd() *cobra.Command {
	var once, asJSON bool
	var account, only string
	cmd := &cobra.Command{
		Use:   "sync --once",
		Short: "Run one full sync pass of mail, calendars and files now (through the daemon when it runs)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !once {
				return fmt.Errorf("give --once (the daemon, holdover run, syncs continuously)")
			}
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			progress := a.progressReporter()
			results, delegated, err := daemon.SyncOnce(cmd.Context(), cfg, daemon.SyncOnceOptions{Account: account, Only: only, Progress: progress.report})
			progress.finish()
			if asJSON {
				if jerr := a.printJSON(results); jerr != nil {
					return jerr
				}
				return err
			}
			if delegated {
				fmt.Fprintln(a.stdout, "the running daemon did the pass:")
			}
			for _, r := range results {
				m := r.Mail
				if m != (mailsync.Stats{}) || r.Calendar == nil {
					fmt.Fprintf(a.stdout, "%s: mail %d new (%d downloaded, %d reused), %d flag changes, %d expunged, %d folders synced, %d unchanged\n",
						r.Account, m.New, m.Downloaded, m.Reused, m.FlagChanges, m.Expunged, m.Folders, m.Skipped)
				}
				if c := r.Calendar; c != nil {
					fmt.Fprintf(a.stdout, "%s: calendar %d fetched, %d removed, %d unreadable (kept as received), %d calendars synced, %d unchanged\n",
						r.Account, c.Fetched, c.Removed, c.Bad, c.Calendars, c.Skipped)
				}
				if r.Error != "" {
					fmt.Fprintf(a.stdout, "%s: error: %s\n", r.Account, r.Error)
				}
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&once, "once", false, "one pass, then exit")
	cmd.Flags().StringVar(&account, "account", "", "only this account")
	cmd.Flags().StringVar(&only, "only", "", "only this service (mail, calendar or files)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// progress draws a bar per folder on a terminal; it is silent otherwise.
type progress struct {
	mu     sync.Mutex
	bar    *progressbar.ProgressBar
	folder string
	tty    bool
}

func (a *app) progressReporter() *progress {
	f, ok := a.stderr.(*os.File)
	return &progress{tty: ok && isatty.IsTerminal(f.Fd())}
}

func (p *progress) report(pr mailsync.Progress) {
	if !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	key := pr.Account + "/" + pr.Folder
	if p.bar == nil || p.folder != key {
		if p.bar != nil {
			p.bar.Finish()
		}
		p.folder = key
		p.bar = progressbar.NewOptions(pr.Total,
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription(key),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(os.Stderr) }),
		)
	}
	p.bar.Describe(fmt.Sprintf("%s  %.1f MB", key, float64(pr.Bytes)/(1<<20)))
	p.bar.Set(pr.Done)
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Finish()
	}
}
