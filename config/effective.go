package config

import (
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Files returns the files c was built from, lowest layer first: the
// system file, the conf.d drop-ins and the user's file, each only if it
// exists.
func (c *Config) Files() []string { return slices.Clone(c.info.files) }

// Sources returns the system directory and user file c was loaded from.
// Files that did not exist then may appear later: see [Watch].
func (c *Config) Sources() Sources { return c.info.sources }

// Warnings returns the problems that did not stop Load: changes to
// managed keys that were ignored, drop-ins that were not read, removals
// of accounts that did not exist. Each names the file and line.
func (c *Config) Warnings() []Error { return slices.Clone(c.info.warnings) }

// ManagedBy reports whether the key at path (as in [Config.Origin]) is
// managed, and where the managed: entry that covers it is.
func (c *Config) ManagedBy(path string) (Position, bool) {
	for _, mk := range c.info.managed {
		if covers(mk.path, path) {
			return mk.pos, true
		}
	}
	return Position{}, false
}

// Setting is one effective value, as listed by "holdover config show
// --origin".
type Setting struct {
	Key     string   // "accounts.work.mail.imap.port", as in Origin
	Value   string   // in YAML flow syntax: 993, imap.example.com, [INBOX], ""
	Origin  Position // where it was set; zero when Default
	Default bool     // not written in any file
	Managed bool     // covered by a managed: entry
}

// Effective lists every leaf key of c, in the order of docs/config.md,
// with its value and where it was set. Password commands are redacted as
// by [Config.Redacted]. Keys that are neither written nor given a default
// (an unset password_file, an absent folders.exclude) are left out.
func (c *Config) Effective() []Setting {
	var out []Setting
	walkLeaves(reflect.ValueOf(c.Redacted()).Elem(), "", func(key string, v reflect.Value) {
		pos, set := c.origins[key]
		if !set && v.IsZero() {
			return
		}
		_, managed := c.ManagedBy(key)
		if !set {
			pos = Position{}
		}
		out = append(out, Setting{Key: key, Value: formatValue(v), Origin: pos, Default: !set, Managed: managed})
	})
	return out
}

// walkLeaves calls fn for every scalar and list below v, a struct at
// path key.
func walkLeaves(v reflect.Value, key string, fn func(string, reflect.Value)) {
	switch {
	case v.Kind() == reflect.Pointer:
		if !v.IsNil() {
			walkLeaves(v.Elem(), key, fn)
		}
	case v.Kind() == reflect.Struct:
		fields := structFields(v.Type())
		for _, name := range fields.names {
			walkLeaves(v.FieldByIndex(fields.byName[name]), joinPath(key, name), fn)
		}
	case v.Type() == reflect.TypeFor[[]Account]():
		accts := v.Interface().([]Account)
		for i, k := range accountKeys(accts) {
			walkLeaves(reflect.ValueOf(&accts[i]).Elem(), k, fn)
		}
	default:
		fn(key, v)
	}
}

// formatValue renders a leaf value as YAML on one line.
func formatValue(v reflect.Value) string {
	var n yaml.Node
	if err := n.Encode(v.Interface()); err != nil {
		return "?"
	}
	if n.Kind == yaml.SequenceNode {
		n.Style = yaml.FlowStyle
	}
	out, err := yaml.Marshal(&n)
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}
