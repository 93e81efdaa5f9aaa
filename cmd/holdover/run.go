package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/holdover/holdover/daemon"
	"github.com/holdover/holdover/installer"
)

func (a *app) runCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Run the daemon in the foreground",
		Long: `Run the daemon in the foreground until SIGINT or SIGTERM. SIGHUP reloads the
configuration; an invalid configuration is rejected and the running one kept.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			run := func(ctx context.Context) error {
				return daemon.Run(ctx, daemon.Options{
					ConfigPath: a.cfgPath(),
					Version:    buildVersion(),
					LogOutput:  a.stderr,
				})
			}
			managed, err := installer.RunManaged(installer.Options{Scope: installer.System, ConfigPath: a.cfgPath()}, run)
			if !managed {
				err = run(cmd.Context())
			}
			if errors.Is(err, daemon.ErrConfig) {
				return &exitError{code: daemon.ExitConfig, err: err}
			}
			return err
		},
	}
}
