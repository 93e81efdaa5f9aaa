package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxFileSize bounds how much of a configuration file is read.
const maxFileSize = 1 << 20

// Load reads the configuration file at path, applies defaults, expands
// "~" in paths and validates the result. On failure it returns an
// [ErrorList] with every problem found; errors.Is(err, fs.ErrNotExist)
// reports a missing file and errors.Is(err, fs.ErrPermission) an
// unreadable one.
func Load(path string) (*Config, error) {
	c, err := LoadPartial(path)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// LoadPartial is Load for read-only tools that must keep working while the
// file is broken, above all `holdover status`, which has to find the
// daemon to show why its reload was rejected. Along with the errors it
// returns the configuration as far as it could be decoded, defaults
// applied; the Config is nil only when the file cannot be read or parsed.
// A partial Config must never be used to run anything.
func LoadPartial(path string) (*Config, error) {
	if path == "" {
		return nil, ErrorList{{Msg: "no configuration file given and no default path ($HOLDOVER_CONFIG, $XDG_CONFIG_HOME and $HOME are all unset)"}}.err()
	}
	l, errs := loadLayer(path)
	if len(errs) > 0 {
		return nil, errs.err()
	}
	c, d := l.decode()
	v := &validator{file: path, origins: d.origins, bad: d.bad, errs: d.errs}
	v.check(c)
	return c, v.errs.err()
}

// layer is one parsed configuration file. Today Load reads a single
// layer; layered configuration (/etc/holdover/config.yaml, conf.d/*.yaml,
// then the user's file, accounts merged by name) will decode several
// layers, merge them using the name-keyed origins, then default and
// validate once.
type layer struct {
	file string
	doc  *yaml.Node // the top-level mapping; nil for an empty document
}

// decode decodes the layer into a new Config without defaults. The
// decoder's origins and bad paths name accounts by name (see
// accountKeys), and its errors hold every unknown key and bad value.
func (l *layer) decode() (*Config, *decoder) {
	c := &Config{}
	d := newDecoder(l.file)
	if l.doc != nil {
		d.decode(l.doc, reflect.ValueOf(c).Elem(), "")
	}
	keys := accountKeys(c.Accounts)
	rekeyItems(d.origins, "accounts", keys)
	rekeyItems(d.bad, "accounts", keys)
	c.origins = d.origins
	return c, d
}

// loadLayer reads and parses one file. Its errors carry the file name
// and, for syntax errors, the line.
func loadLayer(path string) (*layer, ErrorList) {
	data, err := readFile(path)
	if err != nil {
		return nil, ErrorList{fileError(path, err)}
	}
	l := &layer{file: path}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return l, nil // empty file or only comments
	case err != nil:
		return nil, ErrorList{syntaxError(path, data, err)}
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, ErrorList{syntaxError(path, data, err)}
	default:
		return nil, ErrorList{{File: path, Line: extra.Line, Msg: "more than one YAML document (---); holdover reads one per file"}}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if isNull(root) {
		return l, nil // a file holding only "~" or "---"
	}
	if root.Kind != yaml.MappingNode {
		return nil, ErrorList{{File: path, Line: root.Line, Msg: "the top level must be a mapping of keys (data_dir, accounts, ...), got " + describe(root)}}
	}
	l.doc = root
	return l, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, errors.New("is a directory, not a file")
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("larger than %d KiB; is this really a configuration file?", maxFileSize>>10)
	}
	return data, nil
}

// fileError turns an I/O error into a one-line Error naming the file,
// keeping the cause for errors.Is.
func fileError(path string, err error) Error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is already in Error.File
	}
	msg := err.Error()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		msg = "configuration file does not exist"
		err = fs.ErrNotExist
	case errors.Is(err, fs.ErrPermission):
		msg = "cannot read configuration file: permission denied"
		err = fs.ErrPermission
	default:
		msg = "cannot read configuration file: " + msg
	}
	return Error{File: path, Msg: msg, err: err}
}

var (
	yamlLineRE      = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	unknownAnchorRE = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
)

// parserProblems are the messages of yaml.v3's parser (parserc.go), as
// opposed to its scanner. yaml.v3 (decode.go, parser.fail) prints the
// 0-based line of a parser error's mark, but the 1-based line of a
// scanner error's, and leaves the line out when the 0-based line is 0.
var parserProblems = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"found undefined tag handle",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
}

// syntaxError converts a yaml.v3 parse error ("yaml: line 3: ...") into an
// Error with a 1-based line split out. For an unclosed or misindented
// block, the line is where that block starts.
func syntaxError(path string, data []byte, err error) Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if slices.Contains(parserProblems, msg) {
		line++
	}
	if m := unknownAnchorRE.FindStringSubmatch(msg); m != nil {
		// yaml.v3 gives no line; use the first "*name" in the text.
		re := regexp.MustCompile(`\*` + regexp.QuoteMeta(m[1]) + `($|[\s,\]}])`)
		if loc := re.FindIndex(data); loc != nil {
			line = bytes.Count(data[:loc[0]], []byte("\n")) + 1
		}
	}
	return Error{File: path, Line: line, Msg: "YAML syntax error: " + msg}
}
