package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxFileSize bounds how much of a configuration file is read.
const maxFileSize = 1 << 20

// Load reads the configuration: the built-in defaults, then the system
// layers in [SystemDir] (config.yaml, then conf.d/*.yaml in lexical
// order), then the user's file at path, each later one overriding the
// earlier ones (see docs/config.md). It validates the merged result. On
// failure it returns an [ErrorList] with every problem found;
// errors.Is(err, fs.ErrNotExist) reports a missing file and
// errors.Is(err, fs.ErrPermission) an unreadable one.
//
// The system layers are optional, and so is the user's file when there
// is at least one system layer. A path naming the system file itself (a
// system service run with --config /etc/holdover/config.yaml) is read
// once, as the system file.
func Load(path string) (*Config, error) {
	return LoadSources(Sources{SystemDir: SystemDir(), User: path})
}

// LoadSources is [Load] with the system directory and user file given
// explicitly rather than taken from the environment.
func LoadSources(s Sources) (*Config, error) {
	c, err := load(s, false)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// LoadPartial is Load for read-only tools that must keep working while the
// configuration is broken, above all `holdover status`, which has to find
// the daemon to show why its reload was rejected. Along with the errors it
// returns the configuration as far as it could be decoded, defaults
// applied, leaving out the files that could not be read or parsed; the
// Config is nil only when no file at all could be. A partial Config must
// never be used to run anything.
func LoadPartial(path string) (*Config, error) {
	return load(Sources{SystemDir: SystemDir(), User: path}, true)
}

// DefaultSystemDir holds the administrator's configuration unless
// $HOLDOVER_SYSTEM_DIR says otherwise.
const DefaultSystemDir = "/etc/holdover"

// SystemDir returns the directory of the system layers:
// $HOLDOVER_SYSTEM_DIR if set, else /etc/holdover.
func SystemDir() string {
	if d := os.Getenv("HOLDOVER_SYSTEM_DIR"); d != "" {
		return d
	}
	return DefaultSystemDir
}

// Sources names the files a configuration is built from.
type Sources struct {
	// SystemDir holds the administrator's layers: SystemDir/config.yaml,
	// then SystemDir/conf.d/*.yaml. "" means no system layers.
	SystemDir string
	// User is the user's file, applied last. "" means none.
	User string
}

// source is one candidate layer.
type source struct {
	path   string
	system bool // the system file or a drop-in
	listed bool // found by listing conf.d, so it must be readable
}

// sources lists the candidate layers in order. Listing conf.d can fail
// (errs) or find files that look like drop-ins but are not read (warns).
// order is every path problems may be reported against, in layer order.
func (s Sources) sources() (srcs []source, order []string, errs, warns ErrorList) {
	if s.SystemDir != "" {
		srcs = append(srcs, source{path: filepath.Join(s.SystemDir, "config.yaml"), system: true})
		dir := filepath.Join(s.SystemDir, "conf.d")
		order = append(order, srcs[0].path, dir)
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			e := fileError(dir, err)
			e.Msg = strings.Replace(e.Msg, "configuration file", "drop-in directory", 1)
			errs = append(errs, e)
		}
		for _, e := range entries {
			switch name := e.Name(); {
			case strings.HasPrefix(name, "."):
				// hidden: editor swap and lock files, "..data" links
			case strings.HasSuffix(name, ".yaml"):
				p := filepath.Join(dir, name)
				srcs = append(srcs, source{path: p, system: true, listed: true})
				order = append(order, p)
			case strings.HasSuffix(name, ".yml"):
				p := filepath.Join(dir, name)
				warns = append(warns, Error{File: p, Msg: "not read: only files ending in .yaml are read from conf.d"})
				order = append(order, p)
			}
		}
	}
	if s.User != "" && !slices.ContainsFunc(srcs, func(src source) bool { return samePath(src.path, s.User) }) {
		srcs = append(srcs, source{path: s.User})
		order = append(order, s.User)
	}
	return srcs, order, errs, warns
}

// samePath reports whether a and b name the same file: the same absolute
// path, or the same existing file reached through links.
func samePath(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	ab, err2 := filepath.Abs(b)
	if err1 == nil && err2 == nil && aa == ab {
		return true
	}
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// absent reports whether nothing at all is at path, not even a broken
// symbolic link.
func absent(path string) bool {
	_, err := os.Lstat(path)
	return errors.Is(err, fs.ErrNotExist)
}

// load reads, merges and validates the layers of s. With partial it
// returns what it could along with the errors (see LoadPartial).
func load(s Sources, partial bool) (*Config, error) {
	srcs, order, errs, warns := s.sources()
	var (
		layers      []*layer
		readFailed  bool
		systemFound bool
		userMissing ErrorList
	)
	for _, src := range srcs {
		l, lerrs := loadLayer(src.path)
		if len(lerrs) > 0 && errors.Is(lerrs[0], fs.ErrNotExist) {
			switch {
			case !absent(src.path) || src.listed:
				lerrs[0].Msg = "cannot read configuration file: broken symbolic link, or removed while being read"
			case src.system:
				continue // no system file: fine
			default:
				userMissing = lerrs // fine if there are system layers
				continue
			}
		}
		systemFound = systemFound || src.system
		if len(lerrs) > 0 {
			errs = append(errs, lerrs...)
			readFailed = true
			continue
		}
		l.system = src.system
		layers = append(layers, l)
	}
	if !systemFound {
		errs = append(errs, userMissing...)
		if s.User == "" {
			errs = append(errs, Error{Msg: "no configuration file given and no default path ($HOLDOVER_CONFIG, $XDG_CONFIG_HOME and $HOME are all unset)"})
		}
	}
	if len(layers) == 0 {
		return nil, errs.errIn(order)
	}
	for _, l := range layers {
		l.decode()
		errs = append(errs, l.errs...)
	}
	m := mergeLayers(layers)
	errs = append(errs, m.errs...)
	c, v := m.config()
	v.file = layers[len(layers)-1].file
	v.check(c)
	if !readFailed {
		// A missing layer would make most of these misleading.
		errs = append(errs, v.errs...)
	}
	c.info = loadInfo{sources: s, managed: m.managed}
	for _, l := range layers {
		c.info.files = append(c.info.files, l.file)
	}
	if warns = append(append(warns, m.warns...), v.warns...); len(warns) > 0 {
		warns.sortIn(order)
		c.info.warnings = warns
	}
	if len(errs) > 0 && !partial {
		return nil, errs.errIn(order)
	}
	return c, errs.errIn(order)
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
