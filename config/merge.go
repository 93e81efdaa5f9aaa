package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// Merging, lowest layer first. Each layer has been decoded on its own;
// the keys it wrote are those in its origins. For each such key:
//
//   - a mapping merges key by key into the earlier value;
//   - a scalar, a list or a null replaces the earlier value whole (a null
//     thus resets the key and everything below it to the default);
//   - the password keys of a server are one setting: writing any of them
//     replaces the earlier password source, since exactly one may be set;
//   - accounts merge by name: an item with a known name merges into that
//     account, a new name appends, and "remove: true" drops the account.
//
// A key covered by a managed: entry of an earlier system layer is not
// changed; the attempt becomes a warning.

// removal is an account dropped by "remove: true".
type removal struct {
	name string
	pos  Position
}

// tree holds the positions and decoding failures of merged keys: the
// top-level keys, or one account's.
type tree struct {
	origins map[string]Position
	bad     map[string]bool
	nulls   map[string]bool
}

func newTree() tree {
	return tree{origins: map[string]Position{}, bad: map[string]bool{}, nulls: map[string]bool{}}
}

// replace makes the positions at and below key those of layer l.
func (t tree) replace(l *layer, key string, children bool) {
	replace(t.origins, l.origins, key, children)
	replace(t.bad, l.bad, key, children)
	replace(t.nulls, l.nulls, key, children)
}

func replace[V any](dst, src map[string]V, key string, children bool) {
	delete(dst, key)
	if children {
		maps.DeleteFunc(dst, func(k string, _ V) bool { return under(k, key) })
		for k, v := range src {
			if under(k, key) {
				dst[k] = v
			}
		}
	}
	if v, ok := src[key]; ok {
		dst[key] = v
	}
}

// mergedAccount is an account being merged. key is its path in the layer
// that added it ("accounts.work", or "accounts[3]" for an item without a
// usable name); positions are kept under that key until the end.
type mergedAccount struct {
	key  string
	acct Account
	tree
	fileIndex map[string]int // file -> index of the account's item there
}

type merger struct {
	cfg       Config // the top-level keys; accounts are in accounts
	top       tree
	accounts  []*mergedAccount
	managed   []managedKey
	errs      ErrorList
	warns     ErrorList
	emptiedBy *removal
}

func mergeLayers(layers []*layer) *merger {
	m := &merger{top: newTree()}
	for _, l := range layers {
		m.layer(l)
	}
	m.checkManagedAccounts()
	return m
}

func (m *merger) layer(l *layer) {
	m.mergeStruct(reflect.ValueOf(&m.cfg).Elem(), reflect.ValueOf(l.cfg).Elem(), "", l, m.top)
	m.mergeAccounts(l)
	if l.managedAt == nil {
		return
	}
	if !l.system {
		m.errs = append(m.errs, Error{File: l.file, Line: l.managedAt.Line, Path: "managed",
			Msg: "managed: is only allowed in the system configuration (config.yaml and conf.d/*.yaml in " + SystemDir() + "), not in the user's file"})
		return
	}
	for _, mk := range l.managed {
		if msg := managedPathError(mk.path); msg != "" {
			m.errs = append(m.errs, Error{File: mk.pos.File, Line: mk.pos.Line, Path: "managed", Msg: msg})
			continue
		}
		m.managed = append(m.managed, mk)
	}
}

// covering returns the managed entry that covers key, if any.
func (m *merger) covering(key string) *managedKey {
	for i, mk := range m.managed {
		if covers(mk.path, key) {
			return &m.managed[i]
		}
	}
	return nil
}

// below returns a managed entry strictly below key, if any.
func (m *merger) below(key string) *managedKey {
	for i, mk := range m.managed {
		if under(mk.path, key) {
			return &m.managed[i]
		}
	}
	return nil
}

func (m *merger) warn(l *layer, key string, format string, args ...any) {
	p := l.origins[key]
	m.warns = append(m.warns, Error{File: l.file, Line: p.Line, Path: key, Msg: fmt.Sprintf(format, args...)})
}

func (m *merger) warnManaged(l *layer, key string, mk *managedKey) {
	what := "managed"
	if mk.path != key {
		what = "managed as part of " + mk.path
	}
	m.warn(l, key, "%s by %s; the value here is ignored", what, mk.pos)
}

// mergeStruct merges into dst (a struct at path key) the fields that
// layer l wrote in src.
func (m *merger) mergeStruct(dst, src reflect.Value, key string, l *layer, t tree) {
	fields := structFields(dst.Type())
	_, secret := fields.byName["password_env"]
	if secret {
		m.mergeSecret(dst, src, key, l, t)
	}
	for _, name := range fields.names {
		fk := joinPath(key, name)
		if _, set := l.origins[fk]; !set || secret && slices.Contains(secretKeys, name) {
			continue
		}
		if fk == "accounts" {
			continue // see mergeAccounts
		}
		idx := fields.byName[name]
		m.mergeField(dst.FieldByIndex(idx), src.FieldByIndex(idx), fk, l, t)
	}
}

// isMapping reports whether v holds a decoded mapping (as opposed to a
// null, which leaves a pointer nil).
func isMapping(v reflect.Value) bool {
	if v.Kind() == reflect.Pointer {
		return !v.IsNil() && v.Elem().Kind() == reflect.Struct
	}
	return v.Kind() == reflect.Struct
}

func (m *merger) mergeField(dv, sv reflect.Value, key string, l *layer, t tree) {
	if mk := m.covering(key); mk != nil {
		m.locked(dv, sv, key, l, mk)
		return
	}
	if isMapping(sv) && !l.nulls[key] && !l.bad[key] {
		if _, ok := t.origins[key]; !ok {
			t.origins[key] = l.origins[key]
		}
		delete(t.nulls, key)
		if dv.Kind() == reflect.Pointer {
			if dv.IsNil() {
				dv.Set(reflect.New(dv.Type().Elem()))
			}
			dv, sv = dv.Elem(), sv.Elem()
		}
		m.mergeStruct(dv, sv, key, l, t)
		return
	}
	if mk := m.below(key); mk != nil {
		if !reflect.DeepEqual(dv.Interface(), sv.Interface()) {
			m.warn(l, key, "not reset: %s below it is managed by %s; the value here is ignored", mk.path, mk.pos)
		}
		return
	}
	dv.Set(sv)
	switch sv.Kind() {
	case reflect.Pointer, reflect.Struct, reflect.Slice, reflect.Map:
		t.replace(l, key, true)
	default:
		t.replace(l, key, false)
	}
}

// locked compares what layer l wrote at key, which mk covers, with the
// value kept, and warns about each key it would have changed.
func (m *merger) locked(dv, sv reflect.Value, key string, l *layer, mk *managedKey) {
	if !isMapping(sv) || l.nulls[key] || l.bad[key] {
		if !reflect.DeepEqual(dv.Interface(), sv.Interface()) {
			m.warnManaged(l, key, mk)
		}
		return
	}
	if sv.Kind() == reflect.Pointer {
		sv = sv.Elem()
		if dv.IsNil() {
			dv = reflect.New(sv.Type()).Elem()
		} else {
			dv = dv.Elem()
		}
	}
	fields := structFields(sv.Type())
	for _, name := range fields.names {
		if fk := joinPath(key, name); hasKey(l.origins, fk) {
			idx := fields.byName[name]
			m.locked(dv.FieldByIndex(idx), sv.FieldByIndex(idx), fk, l, mk)
		}
	}
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

// mergeSecret replaces the password source of a server or DAV endpoint
// at key when layer l writes any of its keys.
func (m *merger) mergeSecret(dst, src reflect.Value, key string, l *layer, t tree) {
	first := ""
	for _, k := range secretKeys {
		if _, ok := l.origins[joinPath(key, k)]; ok {
			first = joinPath(key, k)
			break
		}
	}
	if first == "" {
		return
	}
	ds, ss := dst.FieldByName("Secret"), src.FieldByName("Secret")
	for _, k := range secretKeys {
		if mk := m.covering(joinPath(key, k)); mk != nil {
			if ds.Interface() != ss.Interface() {
				m.warn(l, first, "the password source is managed by %s (%s); the value here is ignored", mk.pos, mk.path)
			}
			return
		}
	}
	ds.Set(ss)
	for _, k := range secretKeys {
		t.replace(l, joinPath(key, k), false)
	}
}

// account returns the merged account with the given origin key.
func (m *merger) account(key string) (int, *mergedAccount) {
	for i, a := range m.accounts {
		if a.key == key {
			return i, a
		}
	}
	return -1, nil
}

func (m *merger) mergeAccounts(l *layer) {
	if p, ok := l.origins["accounts"]; ok {
		if _, seen := m.top.origins["accounts"]; !seen {
			m.top.origins["accounts"] = p
		}
	}
	if l.bad["accounts"] {
		m.top.bad["accounts"] = true
	}
	keys := accountKeys(l.cfg.Accounts)
	for i := range l.cfg.Accounts {
		src, key := &l.cfg.Accounts[i], keys[i]
		named := !strings.HasPrefix(key, "accounts[")
		j, ma := -1, (*mergedAccount)(nil)
		if named {
			j, ma = m.account(key)
		}
		if at, ok := l.removes[i]; ok {
			m.remove(l, key, src.Name, at, j, named)
			continue
		}
		if ma == nil {
			if mk := m.covering(key); mk != nil {
				m.warn(l, key, "account %q is not added: %s is managed by %s", src.Name, mk.path, mk.pos)
				continue
			}
			ma = &mergedAccount{key: key, tree: newTree(), fileIndex: map[string]int{}}
			ma.origins[key] = l.origins[key]
			m.accounts = append(m.accounts, ma)
		}
		ma.fileIndex[l.file] = i
		// The name only matches: it stays cited where the account began.
		namePos, hadName := ma.origins[key+".name"]
		m.mergeStruct(reflect.ValueOf(&ma.acct).Elem(), reflect.ValueOf(src).Elem(), key, l, ma.tree)
		if hadName {
			ma.origins[key+".name"] = namePos
		}
	}
}

// remove handles "remove: true" on the account item at key; j is the
// index of the merged account of that name, or -1.
func (m *merger) remove(l *layer, key, name string, at Position, j int, named bool) {
	fail := func(format string, args ...any) {
		m.errs = append(m.errs, Error{File: l.file, Line: at.Line, Path: key, Msg: fmt.Sprintf(format, args...)})
	}
	if !named {
		fail("remove: true needs the valid, unique name of the account to remove")
		return
	}
	other, at2 := "", Position{}
	for k, p := range l.origins {
		if under(k, key) && k != key+".name" && (other == "" || p.Line < at2.Line || p.Line == at2.Line && len(k) < len(other)) {
			other, at2 = k, p
		}
	}
	if other != "" {
		fail("remove: true removes account %q whole; drop the other keys of the item (%s, line %d)", name, strings.TrimPrefix(other, key+"."), at2.Line)
		return
	}
	mk := m.covering(key)
	if mk == nil {
		mk = m.below(key)
	}
	switch {
	case j < 0:
		m.warns = append(m.warns, Error{File: l.file, Line: at.Line, Path: key,
			Msg: fmt.Sprintf("remove: true: no earlier file defines account %q; nothing to remove", name)})
	case mk != nil:
		m.warns = append(m.warns, Error{File: l.file, Line: at.Line, Path: key,
			Msg: fmt.Sprintf("account %q is not removed: %s is managed by %s", name, mk.path, mk.pos)})
	default:
		m.accounts = slices.Delete(m.accounts, j, j+1)
		if len(m.accounts) == 0 {
			m.emptiedBy = &removal{name: name, pos: at}
		}
	}
}

// checkManagedAccounts reports managed paths naming an account that the
// merged configuration does not have.
func (m *merger) checkManagedAccounts() {
	names := map[string]bool{}
	for _, a := range m.accounts {
		names[a.acct.Name] = true
	}
	m.managed = slices.DeleteFunc(m.managed, func(mk managedKey) bool {
		rest, ok := strings.CutPrefix(mk.path, "accounts.")
		if !ok {
			return false
		}
		name, _, _ := strings.Cut(rest, ".")
		if names[name] {
			return false
		}
		m.errs = append(m.errs, Error{File: mk.pos.File, Line: mk.pos.Line, Path: "managed",
			Msg: fmt.Sprintf("%s: no account is named %q", mk.path, name)})
		return true
	})
}

// config returns the merged configuration, positions keyed by the final
// account names, and a validator for it.
func (m *merger) config() (*Config, *validator) {
	c := m.cfg
	v := &validator{origins: maps.Clone(m.top.origins), bad: maps.Clone(m.top.bad), nulls: maps.Clone(m.top.nulls)}
	for _, a := range m.accounts {
		c.Accounts = append(c.Accounts, a.acct)
	}
	keys := accountKeys(c.Accounts)
	for i, a := range m.accounts {
		for k, p := range a.origins {
			v.origins[keys[i]+strings.TrimPrefix(k, a.key)] = p
		}
		for k := range a.bad {
			v.bad[keys[i]+strings.TrimPrefix(k, a.key)] = true
		}
		for k := range a.nulls {
			v.nulls[keys[i]+strings.TrimPrefix(k, a.key)] = true
		}
		v.fileIndex = append(v.fileIndex, a.fileIndex)
	}
	if len(c.Accounts) == 0 {
		v.emptiedBy = m.emptiedBy
	}
	c.origins = v.origins
	return &c, v
}
