// Package config loads, defaults and validates holdover's YAML
// configuration file and resolves the passwords it refers to.
//
// The job of the package is to turn one file (see [DefaultPath]) into a
// [Config] the rest of holdover can trust. [Load] guarantees, when it
// returns a nil error, that:
//
//   - every key in the file is known; a misspelt key is an error, never
//     silently ignored;
//   - every default documented in docs/config.md is applied, so callers
//     never see an empty enum, port or duration;
//   - data_dir, listen.control, files.local_dir and password_file are
//     absolute, cleaned paths (a leading "~" is expanded; environment
//     variables are not);
//   - every value is valid (see docs/config.md for the rules).
//
// When Load fails it returns an [ErrorList] holding every problem it
// found, not just the first, each as "file:line: path: message".
//
// Secrets never live in a Config: a [Secret] only says where a password
// comes from (a command, a file or an environment variable), and
// [Secret.Resolve] fetches it on demand. No error produced by this package
// contains a password, the output of a password command or the command
// itself; [Config.Redacted] removes commands before a Config is shown.
//
// Every key read from the file keeps its position (see [Config.Origin]),
// keyed by a stable path in which accounts are named rather than numbered
// ("accounts.work.mail.imap.port"). The loader is built as "parse a layer
// into a yaml.Node, decode it against the struct while recording
// positions, then default and validate", so that several layers can later
// be merged before the last two steps.
package config
