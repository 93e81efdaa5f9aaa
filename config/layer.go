package config

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// layer is one configuration file: parsed by loadLayer, then decoded on
// its own (decode) before the layers are merged (mergeLayers) and the
// result defaulted and validated once.
type layer struct {
	file   string
	system bool       // the system file or a conf.d drop-in
	doc    *yaml.Node // the top-level mapping; nil for an empty document

	// Set by decode. Paths name accounts by name (see accountKeys).
	cfg     *Config // as written, no defaults
	origins map[string]Position
	bad     map[string]bool // keys whose value did not decode
	nulls   map[string]bool // keys written as null
	errs    ErrorList
	// managed is the layer's managed: list, managedAt where that key is.
	managed   []managedKey
	managedAt *Position
	// removes maps the index of an account item to its "remove: true".
	removes map[int]Position
}

// managedKey is one entry of a managed: list.
type managedKey struct {
	path string
	pos  Position
}

// decode decodes the layer into l.cfg, recording positions, unknown keys
// and bad values.
func (l *layer) decode() {
	d := newDecoder(l.file)
	l.cfg = &Config{}
	l.removes = map[int]Position{}
	if l.doc != nil {
		d.decode(l.split(d), reflect.ValueOf(l.cfg).Elem(), "")
	}
	keys := accountKeys(l.cfg.Accounts)
	rekeyItems(d.origins, "accounts", keys)
	rekeyItems(d.bad, "accounts", keys)
	rekeyItems(d.nulls, "accounts", keys)
	l.cfg.origins = d.origins
	l.origins, l.bad, l.nulls, l.errs = d.origins, d.bad, d.nulls, d.errs
}

// split takes the keys that are about layering rather than settings out
// of the document: the top-level managed: list and each account's
// remove: flag, which it decodes into l. It returns a copy of the
// document without them; the parsed tree is left alone, since anchors
// may share its nodes.
func (l *layer) split(d *decoder) *yaml.Node {
	root := *l.doc
	root.Content = nil
	var first *yaml.Node
	for i := 0; i+1 < len(l.doc.Content); i += 2 {
		k, v := l.doc.Content[i], l.doc.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "managed" {
			if first != nil {
				d.errorf(k, "", "duplicate key %q (first at line %d)", k.Value, first.Line)
				continue
			}
			first = k
			l.decodeManaged(d, k, v)
			continue
		}
		if k.Kind == yaml.ScalarNode && k.Value == "accounts" {
			v = l.splitAccounts(d, v)
		}
		root.Content = append(root.Content, k, v)
	}
	return &root
}

func (l *layer) decodeManaged(d *decoder, k, v *yaml.Node) {
	pos := d.pos(k)
	l.managedAt = &pos
	var paths []string
	d.decode(v, reflect.ValueOf(&paths).Elem(), "managed")
	for i, p := range paths {
		key := "managed[" + strconv.Itoa(i) + "]"
		if !d.bad[key] {
			l.managed = append(l.managed, managedKey{path: p, pos: d.origins[key]})
		}
	}
	for key := range d.origins {
		if key == "managed" || under(key, "managed") {
			delete(d.origins, key)
		}
	}
}

// splitAccounts returns a copy of the accounts list whose items have no
// remove: key, recording the items that have "remove: true".
func (l *layer) splitAccounts(d *decoder, v *yaml.Node) *yaml.Node {
	seq := follow(v)
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return v // the decoder reports it
	}
	out := *seq
	out.Content = slices.Clone(seq.Content)
	for i, item := range seq.Content {
		m := follow(item)
		if m == nil || m.Kind != yaml.MappingNode {
			continue
		}
		var rest []*yaml.Node
		found := false
		for j := 0; j+1 < len(m.Content); j += 2 {
			k, val := m.Content[j], m.Content[j+1]
			if k.Kind != yaml.ScalarNode || k.Value != "remove" {
				rest = append(rest, k, val)
				continue
			}
			found = true
			var remove bool
			d.decode(val, reflect.ValueOf(&remove).Elem(), "accounts["+strconv.Itoa(i)+"].remove")
			if remove {
				l.removes[i] = d.pos(k)
			} else {
				delete(l.removes, i)
			}
		}
		if found {
			c := *m
			c.Content = rest
			out.Content[i] = &c
		}
	}
	return &out
}

// follow resolves aliases quietly (the decoder reports broken ones).
func follow(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i > 100 {
			return nil
		}
		n = n.Alias
	}
	return n
}

// under reports whether key is strictly below prefix.
func under(key, prefix string) bool {
	return len(key) > len(prefix) && strings.HasPrefix(key, prefix) &&
		(key[len(prefix)] == '.' || key[len(prefix)] == '[')
}

// covers reports whether the managed path m covers key: key is m or is
// below it.
func covers(m, key string) bool { return key == m || under(key, m) }

// managedPathError says why p is not a key path that managed: can name,
// or returns "". Paths are the keys of docs/config.md joined by dots,
// accounts named by name: "sync.interval", "accounts.work.mail". List
// items cannot be named on their own.
func managedPathError(p string) string {
	if p == "" {
		return "empty key path"
	}
	t := reflect.TypeFor[Config]()
	segs := strings.Split(p, ".")
	for i := 0; i < len(segs); i++ {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		parent := strings.Join(segs[:i], ".")
		if t.Kind() != reflect.Struct {
			return fmt.Sprintf("unknown key path %q: %s has no keys below it", p, parent)
		}
		fields := structFields(t)
		idx, ok := fields.byName[segs[i]]
		if !ok {
			msg := fmt.Sprintf("unknown key path %q: no key %q", p, segs[i])
			if parent != "" {
				msg += " in " + parent
			}
			if s := suggest(segs[i], fields.names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			return msg
		}
		t = t.FieldByIndex(idx).Type
		if t == reflect.TypeFor[[]Account]() && i+1 < len(segs) {
			i++
			if !nameRE.MatchString(segs[i]) {
				return fmt.Sprintf("unknown key path %q: %q is not an account name (write accounts.<name>, e.g. accounts.work.mail)", p, segs[i])
			}
			t = reflect.TypeFor[Account]()
		}
	}
	return ""
}
