// Command holdover is the CLI and daemon entry point. It is thin: it parses
// flags, calls the packages below and prints their results. Every command
// that lists things takes --json.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/holdover/holdover/config"
	"github.com/holdover/holdover/store"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// app holds the global flags and the output streams.
type app struct {
	configPath string
	stdout     io.Writer
	stderr     io.Writer
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	stopProfile := startProfile()
	code := execute(ctx, sendmailArgs(os.Args), os.Stdout, os.Stderr)
	stopProfile()
	os.Exit(code)
}

// exitError carries a specific exit code (errors print "holdover: …" and
// exit 1 otherwise).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return executeWith(ctx, args, os.Stdin, stdout, stderr)
}

// executeWith is execute with stdin given, for the commands that read it
// through cobra (sendmail).
func executeWith(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "holdover: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "holdover",
		Short: "Keep mail, calendars and files working when the cloud is down",
		Long: `holdover mirrors mail (IMAP), calendars (CalDAV) and files (WebDAV) into a
local SQLite store, serves every read locally, queues local changes while a
provider is down and replays them exactly once when it is back.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&a.configPath, "config", "", "configuration file (default $HOLDOVER_CONFIG, else $XDG_CONFIG_HOME/holdover/config.yaml)")
	root.AddCommand(
		a.versionCmd(),
		a.runCmd(),
		a.configCmd(),
		a.dbCmd(),
		a.statusCmd(),
		a.openCmd(),
		a.outboxCmd(),
		a.outagesCmd(),
		a.serviceCmd(),
		a.syncCmd(),
		a.mailCmd(),
		a.calCmd(),
		a.filesCmd(),
		a.conflictsCmd(),
		a.accountCmd(),
		a.sendmailCmd(),
		a.demoCmd(),
	)
	return root
}

func (a *app) cfgPath() string {
	if a.configPath != "" {
		return a.configPath
	}
	return config.DefaultPath()
}

func (a *app) loadConfig() (*config.Config, error) {
	return config.Load(a.cfgPath())
}

// loadConfigLenient loads the configuration for commands that only need
// to find the data directory; errors become a warning on stderr.
func (a *app) loadConfigLenient() (*config.Config, error) {
	cfg, err := config.LoadPartial(a.cfgPath())
	if cfg == nil || cfg.DataDir == "" {
		if err == nil {
			err = fmt.Errorf("%s: no data_dir", a.cfgPath())
		}
		return nil, err
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "warning: the configuration has errors (a running daemon keeps its last good one):\n%v\n", err)
	}
	return cfg, nil
}

// openStore opens the database of the configured data directory for a
// command that reads or changes it. It refuses to create a database where
// none exists: only the daemon does that.
//
// A configuration with errors does not lock anyone out of their local
// data: the commands that only read or edit the store need nothing but
// data_dir, so they go on with a warning (a running daemon keeps its last
// good configuration meanwhile).
func (a *app) openStore(ctx context.Context) (*config.Config, *store.DB, error) {
	cfg, err := a.loadConfigLenient()
	if err != nil {
		return nil, nil, err
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, db, nil
}

func openDB(ctx context.Context, cfg *config.Config) (*store.DB, error) {
	path := cfg.DBPath()
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &noDatabaseError{path}
		}
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	return store.Open(ctx, path)
}

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (a *app) versionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON {
				return a.printJSON(map[string]any{"version": buildVersion(), "schema_version": store.SchemaVersion()})
			}
			fmt.Fprintf(a.stdout, "holdover %s (database schema %d)\n", buildVersion(), store.SchemaVersion())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
