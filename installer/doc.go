// Package installer installs holdover as a service of the host's service
// manager, through github.com/kardianos/service, and controls it afterwards.
//
// Two scopes exist. System installs a machine-wide service that runs as the
// dedicated unprivileged account "holdover" (systemd system unit on Linux,
// launchd daemon in /Library/LaunchDaemons on macOS, SCM service on
// Windows). User installs a per-user service (systemd user unit, launchd
// agent in ~/Library/LaunchAgents); Windows has no user scope.
//
// The service files are rendered by this package, not by kardianos'
// built-in templates: RenderSystemdUnit and RenderLaunchdPlist produce the
// exact bytes that end up on disk, independent of the host OS, so they can
// be golden-tested and checked with systemd-analyze. The rendered text is
// handed to kardianos as its "SystemdScript" / "LaunchdConfig" template;
// since it contains no template action ("{{" is rejected in every value),
// kardianos' engine passes it through unchanged.
//
// Invariants:
//
//   - Install never overwrites an existing configuration file. It writes the
//     commented starter configuration (Options.StarterConfig, else
//     DefaultStarterConfig) only when nothing exists at Options.ConfigPath,
//     creating it atomically with mode 0640 (System, group-readable by the
//     service account) or 0600 (User) and its missing parent directory
//     with mode 0750.
//   - Install, Uninstall and the control operations never touch the data
//     directory's contents, and Uninstall keeps the configuration, the
//     credentials and the data: it only stops the service and removes the
//     service registration.
//   - Uninstall stops the service before it removes it, and refuses to remove
//     a service that it could not stop and that still reports running.
//   - On Linux only systemd is supported: when systemd is not PID 1
//     (/run/systemd/system missing) every operation returns ErrNoSystemd
//     before doing anything, instead of letting kardianos fall back to a
//     SysV, upstart or OpenRC script.
//   - The System account is created (useradd --system) only for System
//     scope on Linux, and only when it is missing. On macOS it must exist
//     already (Install says so); on Windows the service runs as LocalSystem.
//   - Everything that touches the host beyond the files above (the service
//     manager, the account database, the systemd check) goes through the
//     Host hooks, so tests replace them and never touch the real host.
//
// Credentials: Options.Credentials names become systemd
// "LoadCredential=NAME:<CredentialsDir>/NAME" lines, so the files can stay
// root-only (0600 in a 0700 directory) while the unprivileged service reads
// them from $CREDENTIALS_DIRECTORY/NAME. A configuration refers to such a
// secret with "password_credential: NAME", which the config package
// resolves against $CREDENTIALS_DIRECTORY. launchd has no equivalent, so
// the plist sets CREDENTIALS_DIRECTORY to the credentials directory itself
// and the files there must be readable by the service account.
package installer
