package config

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds the work done on one document, so that a file abusing
// aliases ("billion laughs") fails instead of exhausting memory.
const maxNodes = 100_000

// decoder walks a yaml.Node tree against a Go value using its yaml struct
// tags. Unlike yaml.Node.Decode it reports every problem (unknown keys,
// wrong types, bad durations) with its line, and records the position of
// every key it reads.
//
// Paths recorded here use list indexes ("accounts[0].mail"); the loader
// renames named list items afterwards (see rekeyItems).
type decoder struct {
	file    string
	origins map[string]Position
	bad     map[string]bool // paths whose value could not be decoded
	nulls   map[string]bool // paths written as null (empty, "~" or "null")
	errs    ErrorList
	budget  int
	merging map[*yaml.Node]bool // mappings being merged, to stop cycles
}

func newDecoder(file string) *decoder {
	return &decoder{
		file:    file,
		origins: map[string]Position{},
		bad:     map[string]bool{},
		nulls:   map[string]bool{},
		budget:  maxNodes,
		merging: map[*yaml.Node]bool{},
	}
}

func (d *decoder) pos(n *yaml.Node) Position {
	return Position{File: d.file, Line: n.Line, Column: n.Column}
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, Error{File: d.file, Line: n.Line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.errorf(n, path, format, args...)
	d.bad[path] = true
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// resolve follows aliases. It returns nil when the alias is broken.
func (d *decoder) resolve(n *yaml.Node, path string) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if n.Alias == nil || i > 100 {
			d.fail(n, path, "unresolvable alias *%s", n.Value)
			return nil
		}
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// decode stores n into v, which must be settable. A null value (an
// empty value, "~" or "null") leaves v at its zero value.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n = d.resolve(n, path); n == nil {
		return
	}
	if d.budget--; d.budget < 0 {
		if d.budget == -1 {
			d.fail(n, path, "document too large or too deeply aliased (more than %d nodes)", maxNodes)
		}
		return
	}
	if isNull(n) {
		d.nulls[path] = true
		v.SetZero()
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	default:
		d.decodeScalar(n, v, path)
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	fields := structFields(v.Type())
	if _, secret := fields.byName["password_env"]; secret && n.Kind == yaml.ScalarNode {
		// A secret pasted in place: never echo it.
		d.fail(n, path, "expected a mapping that says where the secret comes from (password_command, password_file, password_env or password_credential), got a value: holdover does not store secrets in the configuration")
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	for _, kv := range d.mergeMapping(n, path) {
		name := kv.key.Value
		f, ok := fields.byName[name]
		if !ok {
			msg := fmt.Sprintf("unknown key %q", name)
			if _, secret := fields.byName["password_env"]; secret && name == "password" {
				msg += " (holdover does not store passwords: use password_command, password_file, password_env or password_credential)"
			} else if s := suggest(name, fields.names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.errorf(kv.key, path, "%s", msg)
			continue
		}
		fp := joinPath(path, name)
		d.origins[fp] = d.pos(kv.key)
		d.decode(kv.value, v.FieldByIndex(f), fp)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		hint := ""
		if n.Kind == yaml.ScalarNode {
			hint = fmt.Sprintf(" (write [%s] for a list of one)", strconv.Quote(n.Value))
		}
		d.fail(n, path, "expected a list, got %s%s", describe(n), hint)
		return
	}
	if len(n.Content) == 0 {
		v.SetZero() // [] and an absent list read the same
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		ip := path + "[" + strconv.Itoa(i) + "]"
		d.origins[ip] = d.pos(item)
		d.decode(item, s.Index(i), ip)
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		panic("config: map keys must be strings: " + v.Type().String())
	}
	m := reflect.MakeMap(v.Type())
	for _, kv := range d.mergeMapping(n, path) {
		kp := joinPath(path, kv.key.Value)
		d.origins[kp] = d.pos(kv.key)
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(kv.value, elem, kp)
		m.SetMapIndex(reflect.ValueOf(kv.key.Value).Convert(v.Type().Key()), elem)
	}
	v.Set(m)
}

var durationType = reflect.TypeFor[time.Duration]()

func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "expected %s, got %s", typeName(v.Type()), describe(n))
		return
	}
	if v.Type() == durationType {
		dur, err := time.ParseDuration(n.Value)
		if err != nil {
			d.fail(n, path, "invalid duration %q (write e.g. 30s, 5m or 1h30m)", n.Value)
			return
		}
		v.SetInt(int64(dur))
		return
	}
	tmp := reflect.New(v.Type())
	if err := n.Decode(tmp.Interface()); err != nil {
		d.fail(n, path, "expected %s, got %s", typeName(v.Type()), describe(n))
		return
	}
	v.Set(tmp.Elem())
}

type pair struct{ key, value *yaml.Node }

// pairs returns the entries of a mapping with YAML merge keys ("<<")
// expanded: explicit keys win over merged ones, and earlier merge sources
// win over later ones. Duplicate explicit keys and non-scalar keys are
// reported and dropped.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var out, merged []pair
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if isMergeKey(k) {
			merged = append(merged, d.mergeSource(val, path)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "keys must be plain strings, got %s", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorf(k, path, "duplicate key %q (first at line %d)", k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, pair{k, val})
	}
	for _, p := range merged {
		if _, ok := seen[p.key.Value]; !ok {
			seen[p.key.Value] = p.key
			out = append(out, p)
		}
	}
	return out
}

func (d *decoder) mergeSource(val *yaml.Node, path string) []pair {
	if val = d.resolve(val, path); val == nil {
		return nil
	}
	switch val.Kind {
	case yaml.MappingNode:
		return d.mergeMapping(val, path)
	case yaml.SequenceNode:
		var out []pair
		for _, item := range val.Content {
			if item = d.resolve(item, path); item == nil {
				continue
			}
			if item.Kind != yaml.MappingNode {
				d.errorf(item, path, "merge key << needs a mapping or a list of mappings")
				continue
			}
			out = append(out, d.mergeMapping(item, path)...)
		}
		return out
	}
	d.errorf(val, path, "merge key << needs a mapping or a list of mappings")
	return nil
}

func (d *decoder) mergeMapping(m *yaml.Node, path string) []pair {
	if d.merging[m] {
		d.errorf(m, path, "merge key << includes the mapping it is in")
		return nil
	}
	d.merging[m] = true
	defer delete(d.merging, m)
	return d.pairs(m, path)
}

func isMergeKey(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "<<" &&
		(n.Tag == "" || n.Tag == "!" || n.ShortTag() == "!!merge")
}

// describe names what a node is, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		switch n.ShortTag() {
		case "!!str":
			return "string " + strconv.Quote(v)
		case "!!int":
			return "integer " + v
		case "!!bool":
			return "boolean " + v
		case "!!float":
			return "number " + v
		case "!!null":
			return "null"
		}
		return strconv.Quote(v)
	}
	return "an alias"
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return t.String()
}

// fieldSet maps YAML keys to field index paths, ",inline" structs
// flattened.
type fieldSet struct {
	byName map[string][]int
	names  []string
}

var fieldCache sync.Map // reflect.Type -> *fieldSet

func structFields(t reflect.Type) *fieldSet {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(*fieldSet)
	}
	fs := &fieldSet{byName: map[string][]int{}}
	var walk func(t reflect.Type, index []int)
	walk = func(t reflect.Type, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("yaml")
			if (!f.IsExported() && !f.Anonymous) || tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			idx := append(slices.Clone(index), i)
			if slices.Contains(strings.Split(opts, ","), "inline") {
				if f.Type.Kind() != reflect.Struct {
					panic("config: inline field must be a struct: " + t.String() + "." + f.Name)
				}
				walk(f.Type, idx)
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			fs.byName[name] = idx
			fs.names = append(fs.names, name)
		}
	}
	walk(t, nil)
	fieldCache.Store(t, fs)
	return fs
}

// suggest returns the known key closest to a misspelt one, or "" when
// none is close: at most 2 edits, and at most half the name's length.
func suggest(name string, known []string) string {
	best, bestDist := "", min(2, len(name)/2)+1
	for _, k := range known {
		if dist := editDistance(name, k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of adjacent bytes.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// rekeyItems renames the positions of named list items from index form
// to name form: with keys[i] == "accounts.work", "accounts[i].mail" becomes
// "accounts.work.mail". It is used so that origins survive a reordering of
// accounts and can be merged by name across layers.
func rekeyItems[V any](m map[string]V, list string, keys []string) {
	prefix := list + "["
	for k, v := range m {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		num, tail, ok := strings.Cut(rest, "]")
		i, err := strconv.Atoi(num)
		if !ok || err != nil || i < 0 || i >= len(keys) || keys[i] == k[:len(prefix)+len(num)+1] {
			continue
		}
		delete(m, k)
		m[keys[i]+tail] = v
	}
}
