// Package config loads, merges, defaults and validates holdover's YAML
// configuration, resolves the passwords it refers to and watches its
// files for changes.
//
// A configuration is built from layers, lowest first: the built-in
// defaults, the system file <SystemDir>/config.yaml, the drop-ins
// <SystemDir>/conf.d/*.yaml in lexical order, then the user's file (see
// [DefaultPath], [SystemDir], [Load] and [Sources]). Each layer is parsed
// into a yaml.Node and decoded on its own against the struct, recording
// the position of every key and every unknown key or bad value; the
// layers are then merged (mappings key by key, scalars and lists whole,
// accounts by name, "remove: true" dropping one), with the keys listed
// under a system layer's managed: protected from later layers; finally
// the merged result is defaulted and validated once. [Load] guarantees,
// when it returns a nil error, that:
//
//   - every key in every file is known; a misspelt key is an error, never
//     silently ignored;
//   - every default documented in docs/config.md is applied, so callers
//     never see an empty enum, port or duration;
//   - data_dir, listen.control, files.local_dir and password_file are
//     absolute, cleaned paths (a leading "~" is expanded; environment
//     variables are not);
//   - every value is valid (see docs/config.md for the rules).
//
// When Load fails it returns an [ErrorList] holding every problem it
// found, not just the first, each as "file:line: path: message", the file
// being the layer that wrote the offending value. Problems that do not
// stop Load, such as an ignored change to a managed key, are in
// [Config.Warnings].
//
// Secrets never live in a Config: a [Secret] only says where a password
// comes from (a command, a file, an environment variable or a systemd
// credential), and [Secret.Resolve] fetches it on demand. No error
// produced by this package contains a password, the output of a password
// command or the command itself; [Config.Redacted] removes commands
// before a Config is shown.
//
// Every key read keeps its position (see [Config.Origin] and
// [Config.Effective]), keyed by a stable path in which accounts are named
// rather than numbered ("accounts.work.mail.imap.port").
//
// [Watch] reports changes to the files of a configuration; it never
// parses them; its owner reloads with Load and keeps the old
// configuration when the new one is invalid.
package config
