package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdover/holdover/config"
	"github.com/holdover/holdover/connectors/oauth"
	"github.com/holdover/holdover/endpoints/httpapi/apiv1"
)

func (a *app) configCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Check or show the configuration"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate the configuration; exit 1 with file:line messages on any error (warnings alone exit 0)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// LoadPartial, so that warnings are shown along with errors.
			cfg, err := config.LoadPartial(a.cfgPath())
			if cfg != nil {
				for _, w := range cfg.Warnings() {
					fmt.Fprintf(a.stderr, "warning: %v\n", w)
				}
			}
			if err != nil {
				return err
			}
			files := cfg.Files()
			if len(files) == 1 {
				fmt.Fprintf(a.stdout, "%s: ok (%d accounts)\n", files[0], len(cfg.Accounts))
				return nil
			}
			fmt.Fprintf(a.stdout, "ok (%d accounts) from %d files, lowest first:\n", len(cfg.Accounts), len(files))
			for _, f := range files {
				fmt.Fprintf(a.stdout, "  %s\n", f)
			}
			return nil
		},
	})
	var asJSON, origin bool
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration, secrets redacted",
		Long: `Print the effective configuration, secrets redacted, in the layout of the
configuration file. With --origin, print each setting on its own line with
the file:line that set it, "(default)" if none did.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if origin {
				return a.printOrigins(cfg.Effective(), asJSON)
			}
			red := cfg.Redacted()
			if asJSON {
				return a.printJSON(red)
			}
			out, err := config.Marshal(red)
			if err != nil {
				return err
			}
			if _, err = a.stdout.Write(out); err != nil {
				return err
			}
			a.printSignIns(cfg)
			return nil
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	show.Flags().BoolVar(&origin, "origin", false, "list every setting with the file:line that set it")
	cmd.AddCommand(show)
	return cmd
}

// settingJSON is one line of "config show --origin --json".
type settingJSON struct {
	Key     string `json:"key"`
	Value   string `json:"value"` // YAML syntax
	Origin  string `json:"origin,omitempty"`
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Default bool   `json:"default"`
	Managed bool   `json:"managed"`
}

func (a *app) printOrigins(settings []config.Setting, asJSON bool) error {
	if asJSON {
		out := make([]settingJSON, len(settings))
		for i, s := range settings {
			out[i] = settingJSON{Key: s.Key, Value: s.Value, Default: s.Default, Managed: s.Managed}
			if !s.Default {
				out[i].Origin, out[i].File, out[i].Line = s.Origin.String(), s.Origin.File, s.Origin.Line
			}
		}
		return a.printJSON(out)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 3, ' ', 0)
	for _, s := range settings {
		var notes []string
		if s.Default {
			notes = append(notes, "(default)")
		} else {
			notes = append(notes, s.Origin.String())
		}
		if s.Managed {
			notes = append(notes, "(managed)")
		}
		fmt.Fprintf(tw, "%s = %s\t# %s\n", s.Key, s.Value, strings.Join(notes, " "))
	}
	return tw.Flush()
}

// printSignIns adds, as YAML comments, whether each OAuth2 account has a
// stored sign-in and when its access token expires; never a token.
func (a *app) printSignIns(cfg *config.Config) {
	for _, acct := range cfg.Accounts {
		if acct.SignIn() == nil {
			continue
		}
		info := oauth.Stat(cfg.DataDir, acct.Name)
		si := apiv1.SignIn{SignedIn: info.SignedIn, Problem: info.Problem}
		if !info.Expiry.IsZero() {
			si.Expires = &info.Expiry
		}
		fmt.Fprintf(a.stdout, "# sign-in of account %s: %s\n", acct.Name, signInWords(si, acct.Name, time.Now()))
	}
}
