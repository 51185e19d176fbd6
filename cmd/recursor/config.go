package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spf13/pflag"

	"github.com/recursor-dns/recursor/server"
)

// The config file of `recursor serve` is TOML with two sections whose keys
// are the long flag names: [server] for the server's flags, [resolver] for
// the engine's. A flag given on the command line wins over the file.
// docs/recursor.example.toml lists every key.

// configSections maps each section to the flags it may set.
func configSections() map[string]*pflag.FlagSet {
	srv := pflag.NewFlagSet("server", pflag.ContinueOnError)
	(&serveFlags{}).register(srv)
	eng := pflag.NewFlagSet("resolver", pflag.ContinueOnError)
	(&engineFlags{}).register(eng)
	return map[string]*pflag.FlagSet{"server": srv, "resolver": eng}
}

// loadConfigFile applies the settings of the TOML file at path to fs,
// except for flags already set on the command line. Unknown sections and
// keys and bad values are errors that name the line.
func loadConfigFile(path string, fs *pflag.FlagSet) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	settings, err := parseConfig(string(data))
	if err != nil {
		return fmt.Errorf("%s:%w", path, err)
	}
	// The flags of the command line, before the file sets any: a list
	// may come from several settings ([[forward-zone]] tables).
	cli := map[string]bool{}
	fs.Visit(func(f *pflag.Flag) { cli[f.Name] = true })
	for _, s := range settings {
		if cli[s.flag] {
			continue
		}
		f := fs.Lookup(s.flag)
		if f == nil {
			return fmt.Errorf("%s: %s: not a flag of this command", path, s.key)
		}
		for _, v := range s.values {
			if err := fs.Set(s.flag, v); err != nil {
				return fmt.Errorf("%s: %s: %v", path, s.key, err)
			}
		}
	}
	return nil
}

// setting is one key of the file: the flag it sets and its values (several
// for a list).
type setting struct {
	key    string // section.key
	flag   string
	values []string
}

// parseConfig reads and checks a config file: every key must be a flag of
// its section, and its value must parse as that flag's type.
func parseConfig(data string) ([]setting, error) {
	var sections map[string]toml.Primitive
	md, err := toml.Decode(data, &sections)
	if err != nil {
		return nil, configError(err)
	}
	known := configSections()
	var out []setting
	tables := map[string]map[string]toml.Primitive{}
	for _, k := range md.Keys() {
		if zoneTables[k[0]] {
			continue // forward.go
		}
		switch len(k) {
		case 1:
			fs := known[k[0]]
			var table map[string]toml.Primitive
			if fs == nil {
				err = md.PrimitiveDecode(sections[k[0]], rejectValue{fmt.Sprintf("unknown section or top-level key %q: want [server] or [resolver]", k[0])})
			} else {
				err = md.PrimitiveDecode(sections[k[0]], &table)
			}
			if err != nil {
				return nil, configError(err)
			}
			tables[k[0]] = table
		case 2:
			if known[k[0]] == nil {
				return nil, fmt.Errorf("%s: unknown section [%s]: want [server] or [resolver]", k.String(), k[0])
			}
			fv := &flagValue{fs: known[k[0]], name: k[1]}
			if err := md.PrimitiveDecode(tables[k[0]][k[1]], fv); err != nil {
				return nil, configError(err)
			}
			out = append(out, setting{key: k.String(), flag: k[1], values: fv.values})
		default:
			return nil, fmt.Errorf("%s: nested tables are not settings: want keys of [server] or [resolver]", k.String())
		}
	}
	for _, table := range []string{"forward-zone", "stub-zone"} {
		p, ok := sections[table]
		if !ok {
			continue
		}
		var entries []map[string]any
		if err := md.PrimitiveDecode(p, &entries); err != nil {
			return nil, configError(err)
		}
		zs, err := zoneSettings(table, entries, data)
		if err != nil {
			return nil, err
		}
		out = append(out, zs...)
	}
	return out, nil
}

// configError turns a TOML error into "LINE: KEY: reason".
func configError(err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		if pe.LastKey != "" {
			return fmt.Errorf("%d: %s: %s", pe.Position.Line, pe.LastKey, pe.Message)
		}
		return fmt.Errorf("%d: %s", pe.Position.Line, pe.Message)
	}
	// The decoder's other errors say "toml: line N (last key ...): ...".
	return fmt.Errorf(" %s", strings.TrimPrefix(err.Error(), "toml: "))
}

// rejectValue fails to decode anything, so the decoder reports the line.
type rejectValue struct{ reason string }

func (r rejectValue) UnmarshalTOML(any) error { return errors.New(r.reason) }

// flagValue takes one TOML value for the flag name of fs and converts it
// to the strings the flag parses, checking them on the way.
type flagValue struct {
	fs     *pflag.FlagSet
	name   string
	values []string
}

func (v *flagValue) UnmarshalTOML(data any) error {
	f := v.fs.Lookup(v.name)
	if f == nil || v.name == "help" {
		return fmt.Errorf("unknown key %q in [%s]", v.name, v.fs.Name())
	}
	typ := f.Value.Type()
	switch typ {
	case "stringSlice", "stringArray":
		list, ok := data.([]any)
		if !ok {
			return fmt.Errorf("want a list of strings, like [\"a\", \"b\"]")
		}
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("want a list of strings, found %v (%T)", e, e)
			}
			if err := checkListItem(v.name, s); err != nil {
				return err
			}
			v.values = append(v.values, s)
		}
		if len(list) == 0 && typ == "stringSlice" {
			return fmt.Errorf("an empty list: leave the key out for the default")
		}
		return nil
	case "bool":
		b, ok := data.(bool)
		if !ok {
			return fmt.Errorf("want true or false, found %v", data)
		}
		v.values = []string{strconv.FormatBool(b)}
	case "int", "uint16":
		n, ok := data.(int64)
		if !ok {
			return fmt.Errorf("want a whole number, found %v", data)
		}
		limit := int64(math.MaxInt32)
		if typ == "uint16" {
			limit = math.MaxUint16
		}
		if n < 1 || n > limit {
			return fmt.Errorf("%d is out of range: want 1 to %d", n, limit)
		}
		v.values = []string{strconv.FormatInt(n, 10)}
	case "duration":
		s, ok := data.(string)
		if !ok {
			return fmt.Errorf("want a duration string like \"10s\" or \"1h\", found %v", data)
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return fmt.Errorf("%q is not a positive duration like \"10s\" or \"1h\"", s)
		}
		v.values = []string{s}
	case "string":
		s, ok := data.(string)
		if !ok {
			return fmt.Errorf("want a string, found %v", data)
		}
		v.values = []string{s}
	default:
		return fmt.Errorf("key %q cannot be set from a file", v.name)
	}
	return nil
}

// checkListItem checks the items of the lists whose syntax the flags check
// only later, so the error can name the line.
func checkListItem(name, s string) error {
	switch name {
	case "listen":
		if _, err := server.ParseListen(s); err != nil {
			return err
		}
	case "allow", "private-address":
		if _, err := parsePrefixOrAddr(s); err != nil {
			return fmt.Errorf("%q: %w", s, err)
		}
	case "access-control":
		if _, err := server.ParseAccessRule(s); err != nil {
			return err
		}
	case "forward", "forward-tls", "stub-zone":
		if _, _, err := parseZoneServers(s, name == "forward-tls"); err != nil {
			return fmt.Errorf("%q: %w", s, err)
		}
	case "dont-query":
		if strings.EqualFold(s, "none") {
			return nil
		}
		if _, err := parsePrefixOrAddr(s); err != nil {
			return fmt.Errorf("%q: %w", s, err)
		}
	}
	return nil
}
