package main

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdover/holdover/endpoints/control"
)

func (a *app) openCmd() *cobra.Command {
	var printOnly bool
	cmd := &cobra.Command{
		Use:   "open",
		Short: "Open the status page in a browser (prints a sign-in link that works once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.loadConfigLenient()
			if err != nil {
				return err
			}
			u, err := loginURL(cmd.Context(), cfg.ControlSocket())
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, u)
			if printOnly {
				return nil
			}
			if err := openBrowser(u); err != nil {
				fmt.Fprintf(a.stderr, "cannot start a browser (%v): open the link above yourself, within 5 minutes\n", err)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&printOnly, "print", false, "only print the link")
	return cmd
}

// loginURL asks the running daemon for a one-time link to its page.
func loginURL(ctx context.Context, socket string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return control.NewClient(socket).LoginURL(ctx)
}

// openURL shows a URL to the person; tests replace it to play the
// browser.
var openURL = openBrowser

// openBrowser hands u to the desktop's opener; it does not wait for the
// browser.
func openBrowser(u string) error {
	var c *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		c = exec.Command("open", u)
	case "windows":
		c = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		c = exec.Command("xdg-open", u)
	}
	if err := c.Start(); err != nil {
		return err
	}
	go c.Wait()
	return nil
}
