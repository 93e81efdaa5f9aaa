package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/holdover/holdover/installer"
)

func (a *app) serviceCmd() *cobra.Command {
	var user bool
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Install, remove and control holdover as a system or user service",
		Long: `Install holdover as a service: a systemd unit on Linux (system scope: runs as
the "holdover" user, data in /var/lib/holdover, config in /etc/holdover), a
launchd daemon or agent on macOS, a Windows service. With --user, a per-user
service with the XDG config and data directories.`,
	}
	cmd.PersistentFlags().BoolVar(&user, "user", false, "a per-user service instead of a system one")
	opts := func() installer.Options {
		o := installer.Options{Scope: installer.System}
		if user {
			o.Scope = installer.User
		}
		o.ConfigPath = a.configPath // "" means the scope's default
		return o
	}

	var creds []string
	install := &cobra.Command{
		Use:   "install",
		Short: "Install the service (writes a starter config when none exists; never overwrites one)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o := opts()
			o.Credentials = creds
			res, err := installer.Install(o)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "installed %s service", res.Platform)
			if res.ServiceFile != "" {
				fmt.Fprintf(a.stdout, " (%s)", res.ServiceFile)
			}
			fmt.Fprintln(a.stdout)
			if res.UserCreated {
				fmt.Fprintln(a.stdout, "created the system user holdover")
			}
			if res.ConfigCreated {
				fmt.Fprintf(a.stdout, "wrote a starter configuration to %s\n", res.ConfigPath)
			} else {
				fmt.Fprintf(a.stdout, "kept the existing configuration %s\n", res.ConfigPath)
			}
			for _, n := range res.Notes {
				fmt.Fprintf(a.stdout, "next: %s\n", n)
			}
			return nil
		},
	}
	install.Flags().StringSliceVar(&creds, "credential", nil, "systemd credential NAME to load from the credentials directory (repeatable)")

	simple := func(use, short, done string, op func(installer.Options) error) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := op(opts()); err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, done)
				return nil
			},
		}
	}
	status := &cobra.Command{
		Use: "status", Short: "Say whether the service is installed and running", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := installer.Status(opts())
			fmt.Fprintln(a.stdout, st)
			return err
		},
	}
	cmd.AddCommand(install,
		simple("uninstall", "Stop and remove the service (config and data are kept)", "service removed; configuration and data kept", installer.Uninstall),
		simple("start", "Start the service", "service started", installer.Start),
		simple("stop", "Stop the service", "service stopped", installer.Stop),
		simple("restart", "Restart the service", "service restarted", installer.Restart),
		status,
	)
	return cmd
}
