package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdover/holdover/config"
	"github.com/holdover/holdover/connectors/oauth"
	"github.com/holdover/holdover/daemon"
	"github.com/holdover/holdover/endpoints/control"
)

// loginCmds are `account login` and `account logout`.
func (a *app) loginCmds() []*cobra.Command {
	var device, noBrowser bool
	login := &cobra.Command{
		Use:   "login NAME",
		Short: "Sign an OAuth2 account in (Microsoft 365, Google): in a browser, or with --device on a machine without one",
		Long: `Sign an account in to its identity provider and store the sign-in in
<data_dir>/tokens/NAME.json (mode 0600). By default a browser opens the
provider's sign-in page (the URL is printed too) and comes back to holdover
on a one-time loopback address. With --device, holdover prints a URL and a
code to enter on any other device: for servers and system services.
A running daemon resumes the account at once.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, acct, o, err := a.signInAccount(args[0])
			if err != nil {
				return err
			}
			oc := daemon.OAuthConfig(cfg.DataDir, acct.Name, o, nil)
			ctx := cmd.Context()
			if device {
				err = oauth.LoginDevice(ctx, oc, a.stdout)
			} else {
				b := oauth.Browser{Out: a.stdout, AuthParams: o.AuthParams()}
				if !noBrowser {
					b.Open = openURL
				}
				err = oauth.LoginBrowser(ctx, oc, b)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Signed in: account %s (stored in %s, mode 0600).\n", acct.Name, oauth.TokenPath(cfg.DataDir, acct.Name))
			a.tellDaemon(ctx, cfg, acct.Name)
			return nil
		},
	}
	login.Flags().BoolVar(&device, "device", false, "sign in on another device with a code (RFC 8628 device flow)")
	login.Flags().BoolVar(&noBrowser, "no-browser", false, "only print the sign-in URL")
	logout := &cobra.Command{
		Use:   "logout NAME",
		Short: "Forget an account's OAuth2 sign-in (its queue is kept until the next login)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, acct, o, err := a.signInAccount(args[0])
			if err != nil {
				return err
			}
			had, err := oauth.Remove(cfg.DataDir, acct.Name)
			if err != nil {
				return err
			}
			if !had {
				fmt.Fprintf(a.stdout, "Account %s was not signed in.\n", acct.Name)
			} else {
				fmt.Fprintf(a.stdout, "Signed out: account %s. Local changes are kept and queued until `holdover account login %s`.\n", acct.Name, acct.Name)
			}
			if o.RefreshTokenCredential != "" {
				fmt.Fprintf(a.stdout, "Note: the systemd credential %s still holds a refresh token; remove it from the service unit too.\n", o.RefreshTokenCredential)
			}
			return nil
		},
	}
	return []*cobra.Command{login, logout}
}

// signInAccount loads the configuration and the account's sign-in.
func (a *app) signInAccount(name string) (*config.Config, *config.Account, *config.OAuth2, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, nil, nil, err
	}
	acct, ok := cfg.Account(name)
	if !ok {
		return nil, nil, nil, fmt.Errorf("no account %q in the configuration", name)
	}
	o := acct.SignIn()
	if o == nil {
		return nil, nil, nil, fmt.Errorf("account %q signs in with a password: add oauth2 to its mail.imap and mail.smtp to use OAuth2 (see docs/config.md)", name)
	}
	return cfg, acct, o, nil
}

// tellDaemon nudges a running daemon to resume the account; without
// one, the next start uses the sign-in.
func (a *app) tellDaemon(ctx context.Context, cfg *config.Config, account string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := control.NewClient(cfg.ControlSocket()).SignedIn(ctx, account)
	switch {
	case err == nil:
		fmt.Fprintln(a.stdout, "The running daemon resumes the account now.")
	case errors.Is(err, control.ErrNoDaemon):
	default:
		fmt.Fprintf(a.stderr, "warning: could not tell the running daemon (%v); it picks the sign-in up at its next try\n", err)
	}
}
