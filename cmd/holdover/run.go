package main

import (
	"github.com/spf13/cobra"

	"github.com/holdover/holdover/daemon"
)

func (a *app) runCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Run the daemon in the foreground",
		Long: `Run the daemon in the foreground until SIGINT or SIGTERM. SIGHUP reloads the
configuration; an invalid configuration is rejected and the running one kept.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return daemon.Run(cmd.Context(), daemon.Options{
				ConfigPath: a.cfgPath(),
				Version:    buildVersion(),
				LogOutput:  a.stderr,
			})
		},
	}
}
