package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/holdover/holdover/daemon"
)

// exitDiverged is mail verify's exit status when it found the mirror
// different from the server and did not repair it (like diff's 1, but 1
// is every other error here).
const exitDiverged = 2

func (a *app) mailVerifyCmd(account *string) *cobra.Command {
	var repair, asJSON bool
	cmd := &cobra.Command{
		Use:   "verify [--repair]",
		Short: "Compare the mirror in full with the server (every UID and flag); --repair fixes what differs",
		Long: `verify runs a normal sync pass of every folder, then compares the folder's
full UID list and every message's flags with the server. A difference is a
bug in holdover: please report it. Without --repair nothing is changed but
what a normal pass does, and the exit status is 2 when a difference was
found; with --repair the mirror is made equal to the server (bodies already
stored are not downloaded again). The running daemon does it when there is
one. The daemon also verifies by itself (sync.verify, and after outages).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			results, delegated, err := daemon.VerifyOnce(cmd.Context(), cfg, daemon.VerifyOptions{Account: *account, Repair: repair})
			if asJSON {
				if jerr := a.printJSON(results); jerr != nil {
					return jerr
				}
			} else {
				if delegated {
					fmt.Fprintln(a.stdout, "the running daemon did the verification:")
				}
				for _, r := range results {
					a.printVerify(r)
				}
			}
			if err != nil {
				return err
			}
			for _, r := range results {
				if len(r.Mail.Divergences) > 0 && !repair {
					return &exitError{code: exitDiverged, err: errors.New("the mirror differs from the server (see above); run with --repair to fix it, and please report it as a bug")}
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&repair, "repair", false, "make the mirror equal to the server where it differs")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) printVerify(r daemon.VerifyResult) {
	m := r.Mail
	if r.Error != "" {
		fmt.Fprintf(a.stdout, "%s: error: %s\n", r.Account, r.Error)
		return
	}
	state := "equal to the server"
	if len(m.Divergences) > 0 {
		state = fmt.Sprintf("DIFFERENT from the server in %d folder(s)", len(m.Divergences))
		if m.Repaired {
			state += ", repaired"
		}
	}
	fmt.Fprintf(a.stdout, "%s: mail %d folders, %d messages compared: %s\n", r.Account, m.Folders, m.Messages, state)
	for _, d := range m.Divergences {
		fmt.Fprintf(a.stdout, "  %s: %d missing from the mirror, %d in the mirror but not on the server, %d with other flags\n",
			d.Folder, d.Missing, d.Ghosts, d.FlagsDiffer)
	}
	for _, b := range m.Busy {
		fmt.Fprintf(a.stdout, "  %s: not compared, it kept changing on the server; try again later\n", b)
	}
}
