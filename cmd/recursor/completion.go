package main

// Shell completion: cobra's `recursor completion bash|zsh|fish|powershell`
// prints the script; the script asks the hidden `__complete` command,
// which answers from the functions registered here: resolve's type and
// class arguments, the values of enum flags, file and directory flags,
// and control's commands.

import (
	"slices"
	"strings"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"
)

// enumFlags are the flags that take one of a few words, with what each
// means. A flag not defined by a command is passed over, so a value may
// be listed before its flag exists.
var enumFlags = map[string][]string{
	"qname-minimisation": {
		"off\tsend the full name to every server",
		"relaxed\tminimise, and fall back to the full name when a server mishandles it (RFC 9156)",
		"strict\tminimise, and take an NXDOMAIN for a parent name as final (RFC 8020)",
	},
	"log-format": {"text\tkey=value lines", "json\tone JSON object a line"},
}

// fileFlags name a file, dirFlags a directory.
var (
	fileFlags = []string{"root-hints", "trust-anchor-file", "config", "cache-file", "dnstap-file", "control-socket", "hosts"}
	dirFlags  = []string{"sandbox-dir"}
)

// unresolvable are the types a question cannot ask for: meta types that
// are no data (RFC 6895 section 3.1, NXNAME of RFC 9824), zone transfers,
// obsolete mail queries, and the reserved 65535.
var unresolvable = []uint16{dns.TypeNone, dns.TypeOPT, dns.TypeTKEY, dns.TypeTSIG, dns.TypeIXFR, dns.TypeAXFR,
	dns.TypeMAILA, dns.TypeMAILB, dns.TypeNXNAME, dns.TypeReserved}

// registerCompletion adds the completions of every command under root.
func registerCompletion(root *cobra.Command) {
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		switch c.Name() {
		case "resolve":
			c.ValidArgsFunction = completeQuestion
		case "control":
			c.ValidArgsFunction = completeControl
		}
		registerFlagCompletion(c)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func registerFlagCompletion(c *cobra.Command) {
	fs := c.Flags()
	for name, values := range enumFlags {
		if fs.Lookup(name) == nil {
			continue
		}
		c.RegisterFlagCompletionFunc(name, func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			var out []cobra.Completion
			for _, v := range values {
				if strings.HasPrefix(v, toComplete) {
					out = append(out, v)
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		})
	}
	for _, name := range fileFlags {
		if fs.Lookup(name) != nil {
			c.MarkFlagFilename(name)
		}
	}
	for _, name := range dirFlags {
		if fs.Lookup(name) != nil {
			c.MarkFlagDirname(name)
		}
	}
}

// completeQuestion completes resolve's arguments: a type mnemonic, or
// the class, unless one was already given (or -x makes the type PTR).
// The name cannot be completed. Mnemonics come in the letter case typed.
func completeQuestion(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	haveType := slices.ContainsFunc(args, isType) || cmd.Flags().Changed("reverse")
	haveClass := slices.ContainsFunc(args, isClass)
	var words []string
	if !haveType {
		words = typeMnemonics()
	}
	if !haveClass {
		words = append(words, "IN") // the one class resolved
	}
	upper := strings.ToUpper(toComplete)
	lower := upper != toComplete
	var out []cobra.Completion
	for _, w := range words {
		if strings.HasPrefix(w, upper) {
			if lower {
				w = strings.ToLower(w)
			}
			out = append(out, w)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// typeMnemonics are the types a question may ask for, sorted.
func typeMnemonics() []string {
	var out []string
	for name, t := range dns.StringToType {
		if _, ok := parseType(name); ok && !slices.Contains(unresolvable, t) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// completeControl completes the first argument of control: the commands
// the control socket takes, as its help lists them.
func completeControl(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, line := range strings.Split(helpText(), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], toComplete) {
			out = append(out, f[0])
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
