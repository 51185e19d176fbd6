package main

import (
	"os"
	"strings"
	"testing"
)

// FuzzLoadConfig feeds arbitrary files to the config loader. Nothing may
// panic; a file that loads must set only flags of its section, and every
// error must say where (a line number or the key).
func FuzzLoadConfig(f *testing.F) {
	example, err := os.ReadFile("../../docs/recursor.example.toml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(example))
	f.Add("[server]\nlisten = [\"127.0.0.1:5353\"]\nlog-queries = true\n")
	f.Add("[resolver]\nmax-cnames = 4\ndont-query = [\"none\"]\nqname-minimisation = \"strict\"\n")
	f.Add("[server]\nbogus = 1\n")
	f.Add("[resolver]\nmax-ttl = \"forever\"\n")
	f.Add("listen = 5\n[[server]]\n")
	f.Fuzz(func(t *testing.T, data string) {
		sections := configSections() // fresh flags: no state carried between inputs
		settings, err := parseConfig(data)
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		for _, s := range settings {
			section, _, _ := strings.Cut(s.key, ".")
			fs := sections[section]
			if fs == nil || fs.Lookup(s.flag) == nil {
				t.Fatalf("setting %q is not a flag of [%s]", s.key, section)
			}
			for _, v := range s.values {
				if err := fs.Set(s.flag, v); err != nil {
					t.Fatalf("%s = %q passed the loader but the flag refuses it: %v", s.key, v, err)
				}
			}
		}
	})
}
