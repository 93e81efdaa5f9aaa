package config

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The walker is generic; these types exercise what Config does not use
// yet (maps) next to what it does (inline structs, pointers, lists).
type walkInner struct {
	A int    `yaml:"a"`
	B string `yaml:"b"`
}

type walkOuter struct {
	walkInner `yaml:",inline"`
	Ptr       *walkInner           `yaml:"ptr"`
	List      []walkInner          `yaml:"list"`
	Map       map[string]walkInner `yaml:"map"`
	Untagged  bool
	Skipped   string `yaml:"-"`
}

func walk(t *testing.T, text string) (walkOuter, *decoder) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(strings.ReplaceAll(text, "\t", "  ")), &doc); err != nil {
		t.Fatal(err)
	}
	var out walkOuter
	d := newDecoder("f.yaml")
	d.decode(doc.Content[0], reflect.ValueOf(&out).Elem(), "")
	return out, d
}

func TestDecoderWalksInlinePointersListsAndMaps(t *testing.T) {
	out, d := walk(t, `
a: 1
b: x
ptr: {a: 2}
list: [{a: 3}, {b: y}]
map:
	one: {a: 4}
	two: {b: z, c: 5}
untagged: true
skipped: no
`)
	want := walkOuter{
		walkInner: walkInner{A: 1, B: "x"},
		Ptr:       &walkInner{A: 2},
		List:      []walkInner{{A: 3}, {B: "y"}},
		Map:       map[string]walkInner{"one": {A: 4}, "two": {B: "z"}},
		Untagged:  true,
	}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("decoded %+v, want %+v", out, want)
	}
	var got []string
	for _, e := range d.errs {
		got = append(got, e.Error())
	}
	wantErrs := []string{`f.yaml:8: map.two: unknown key "c"`, `f.yaml:10: unknown key "skipped"`}
	if !reflect.DeepEqual(got, wantErrs) {
		t.Errorf("errors = %q, want %q", got, wantErrs)
	}
	for path, line := range map[string]int{"a": 2, "ptr.a": 4, "list[1].b": 5, "map.two.b": 8} {
		if p := d.origins[path]; p.Line != line {
			t.Errorf("origin %s = %v, want line %d", path, p, line)
		}
	}
}

func TestDecoderStopsAliasBombs(t *testing.T) {
	// g expands to 10^7 strings through six levels of aliases.
	text := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g"} {
		text += n + ": &" + n + " [" + strings.Repeat("*"+prev+", ", 9) + "*" + prev + "]\n"
		prev = n
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	var out struct {
		G [][][][][][][]string `yaml:"g"`
	}
	d := newDecoder("f.yaml")
	d.decode(doc.Content[0], reflect.ValueOf(&out).Elem(), "")
	var tooLarge int
	for _, e := range d.errs {
		if strings.Contains(e.Msg, "too large") {
			tooLarge++
		} else if !strings.HasPrefix(e.Msg, "unknown key") {
			t.Errorf("unexpected error %v", e)
		}
	}
	if tooLarge != 1 {
		t.Errorf("%d \"too large\" errors, want 1: %v", tooLarge, d.errs)
	}
}

func TestRekeyItemsNamesAccounts(t *testing.T) {
	m := map[string]int{
		"accounts":                 1,
		"accounts[0]":              2,
		"accounts[0].mail.port":    3,
		"accounts[1].name":         4,
		"accounts[10].x":           5,
		"data_dir":                 6,
		"accounts[0].f.include[0]": 7,
	}
	keys := make([]string, 11)
	for i := range keys {
		keys[i] = "accounts[" + strconv.Itoa(i) + "]"
	}
	keys[0], keys[1], keys[10] = "accounts.work", "accounts[1]", "accounts.ten"
	rekeyItems(m, "accounts", keys)
	want := map[string]int{
		"accounts":                   1,
		"accounts.work":              2,
		"accounts.work.mail.port":    3,
		"accounts[1].name":           4,
		"accounts.ten.x":             5,
		"data_dir":                   6,
		"accounts.work.f.include[0]": 7,
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("rekeyed = %v, want %v", m, want)
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"host", "port", "tls", "username", "password_command", "password_file", "password_env"}
	for in, want := range map[string]string{
		"prot": "port", "user_name": "username", "passwordfile": "password_file", "colour": "", "TLS": "",
	} {
		if got := suggest(in, known); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}
