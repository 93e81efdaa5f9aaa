package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/holdover/holdover/daemon"
	"github.com/holdover/holdover/sync/filesync"
)

func (a *app) filesCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "files", Short: "The synced folders: status and sync"}
	var statusJSON bool
	var account string
	status := &cobra.Command{
		Use: "status", Short: "Per account: files, bytes, what waits each way, conflicts, last sync, guard", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, db, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			if cfg == nil {
				return fmt.Errorf("files status needs a valid configuration (holdover config check)")
			}
			st, err := daemon.CollectFilesStatus(cmd.Context(), cfg, db, account)
			if err != nil {
				return err
			}
			if statusJSON {
				return a.printJSON(st)
			}
			if len(st) == 0 {
				fmt.Fprintln(a.stdout, "no account syncs files (add files: to an account)")
			}
			for _, s := range st {
				printFilesStatus(a.stdout, s, time.Now())
			}
			return nil
		},
	}
	status.Flags().BoolVar(&statusJSON, "json", false, "print JSON")
	status.Flags().StringVar(&account, "account", "", "only this account")

	var once, force, syncJSON bool
	sync := &cobra.Command{
		Use: "sync --once [--force]", Short: "Run one files pass now (through the daemon when it runs)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !once {
				return fmt.Errorf("give --once (the daemon, holdover run, syncs continuously)")
			}
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			bar := a.filesProgress()
			results, delegated, err := daemon.SyncOnce(cmd.Context(), cfg, daemon.SyncOnceOptions{Account: account, Only: "files", Force: force, FilesProgress: bar.report})
			bar.finish()
			if syncJSON {
				if jerr := a.printJSON(results); jerr != nil {
					return jerr
				}
				return err
			}
			if delegated {
				fmt.Fprintln(a.stdout, "the running daemon did the pass:")
			}
			for _, r := range results {
				if f := r.Files; f != nil {
					fmt.Fprintf(a.stdout, "%s: files %d local changes queued (%d renames), %d downloaded (%.1f MB), %d renamed and %d removed here, %d problems\n",
						r.Account, f.Queued, f.Moves, f.Downloaded, float64(f.Bytes)/(1<<20), f.Renamed, f.RemovedLocal, f.Problems)
				}
				if r.Error != "" {
					fmt.Fprintf(a.stdout, "%s: error: %s\n", r.Account, r.Error)
				}
			}
			return err
		},
	}
	sync.Flags().BoolVar(&once, "once", false, "one pass, then exit")
	sync.Flags().BoolVar(&force, "force", false, "delete past the mass-delete guard, and release it")
	sync.Flags().BoolVar(&syncJSON, "json", false, "print JSON")
	sync.Flags().StringVar(&account, "account", "", "only this account")
	cmd.AddCommand(status, sync)
	return cmd
}

func printFilesStatus(w io.Writer, s daemon.FilesStatus, now time.Time) {
	fmt.Fprintf(w, "%s: %s <-> %s\n", s.Account, s.LocalDir, s.URL)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  files\t%d in %d folders, %.1f MB\n", s.Files, s.Folders, float64(s.Bytes)/(1<<20))
	fmt.Fprintf(tw, "  waiting\t%d to upload, %d to download\n", s.PendingUp, s.PendingDown)
	fmt.Fprintf(tw, "  server\t%s\n", s.Server)
	last := "never"
	if s.LastSync != nil {
		last = fmt.Sprintf("%s (%s ago)", s.LastSync.Local().Format(time.DateTime), now.Sub(*s.LastSync).Round(time.Second))
	}
	fmt.Fprintf(tw, "  last sync\t%s\n", last)
	if s.Conflicts > 0 {
		fmt.Fprintf(tw, "  conflicts\t%d (holdover conflicts ls)\n", s.Conflicts)
	}
	if s.Guard != "" {
		fmt.Fprintf(tw, "  STOPPED\t%s; check, then run: holdover files sync --once --force --account %s\n", s.Guard, s.Account)
	}
	if s.LastError != "" {
		fmt.Fprintf(tw, "  last error\t%s\n", s.LastError)
	}
	for _, p := range s.Problems {
		fmt.Fprintf(tw, "  problem\t%s (%s): %s\n", p.Path, p.Side, p.Problem)
	}
	tw.Flush()
}

// filesBar draws the initial sync's progress (files, bytes, ETA) on a
// terminal; it is silent otherwise.
type filesBar struct {
	mu  sync.Mutex
	bar *progressbar.ProgressBar
	tty bool
}

func (a *app) filesProgress() *filesBar {
	f, ok := a.stderr.(*os.File)
	return &filesBar{tty: ok && isatty.IsTerminal(f.Fd())}
}

func (b *filesBar) report(p filesync.Progress) {
	if !b.tty {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar == nil {
		b.bar = progressbar.NewOptions64(p.Bytes,
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(os.Stderr) }),
		)
	}
	b.bar.Describe(fmt.Sprintf("files %d/%d", p.FilesDone, p.Files))
	b.bar.Set64(p.BytesDone)
}

func (b *filesBar) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil {
		b.bar.Finish()
	}
}
