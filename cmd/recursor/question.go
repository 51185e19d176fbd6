package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/miekg/dns"
	"golang.org/x/net/idna"
)

// parseQuestion reads resolve's arguments as dig does: a name, a type
// (a mnemonic or RFC 3597's TYPEnnn) and a class, in any order, the type
// defaulting to A; or, with reverse, the address whose PTR to ask for.
// A name in Unicode is converted to its IDNA 2008 ASCII form.
func parseQuestion(args []string, reverse string) (name string, qtype uint16, err error) {
	var names, types, classes []string
	for _, a := range args {
		switch {
		case isType(a): // first: ANY is a type to dig, not the class
			types = append(types, a)
		case isClass(a):
			classes = append(classes, a)
		default:
			names = append(names, a)
		}
	}
	if reverse == "" && len(names) == 0 && len(types) > 1 {
		// "resolve a aaaa": the first is the name.
		names, types = types[:1], types[1:]
	}
	if reverse == "" && len(names) == 0 && len(types) == 1 && len(classes) == 0 {
		names, types = types, nil // "resolve mx": the name mx
	}
	switch {
	case len(types) > 1:
		return "", 0, fmt.Errorf("more than one query type: %s", strings.Join(types, ", "))
	case len(classes) > 1:
		return "", 0, fmt.Errorf("more than one class: %s", strings.Join(classes, ", "))
	case len(classes) == 1 && !strings.EqualFold(classes[0], "IN"):
		return "", 0, fmt.Errorf("class %s: only IN is resolved", classes[0])
	case reverse != "" && len(names) > 0:
		return "", 0, fmt.Errorf("-x %s and a name (%s): give one", reverse, strings.Join(names, " "))
	case reverse == "" && len(names) == 2 && len(types) == 0:
		return "", 0, fmt.Errorf("unknown query type %q (after the name %s)", names[1], names[0])
	case reverse == "" && len(names) != 1:
		return "", 0, fmt.Errorf("want one name, got %d (%s)", len(names), strings.Join(names, " "))
	}
	qtype = dns.TypeA
	if reverse != "" {
		addr, err := netip.ParseAddr(reverse)
		if err != nil {
			return "", 0, fmt.Errorf("-x %q: not an IP address", reverse)
		}
		if name, err = dns.ReverseAddr(addr.String()); err != nil {
			return "", 0, fmt.Errorf("-x %s: %v", reverse, err)
		}
		qtype = dns.TypePTR
	} else if name, err = asciiName(names[0]); err != nil {
		return "", 0, err
	}
	if len(types) == 1 {
		qtype, _ = parseType(types[0])
	}
	return name, qtype, nil
}

// asciiName is name with its Unicode labels in IDNA 2008 ASCII form.
func asciiName(name string) (string, error) {
	for _, r := range name {
		if r > 0x7f {
			ascii, err := idna.Lookup.ToASCII(strings.TrimSuffix(name, "."))
			if err != nil {
				return "", fmt.Errorf("%q: not a valid internationalised domain name: %v", name, err)
			}
			return ascii + ".", nil
		}
	}
	return name, nil
}

func isType(s string) bool { _, ok := parseType(s); return ok }

// parseType reads a type mnemonic or RFC 3597's TYPEnnn.
func parseType(s string) (uint16, bool) {
	u := strings.ToUpper(s)
	if t, ok := dns.StringToType[u]; ok && t != dns.TypeNone {
		return t, true
	}
	if n, ok := strings.CutPrefix(u, "TYPE"); ok {
		if v, err := strconv.ParseUint(n, 10, 16); err == nil && v > 0 {
			return uint16(v), true
		}
	}
	return 0, false
}

// isClass reports a class mnemonic or RFC 3597's CLASSnnn.
func isClass(s string) bool {
	u := strings.ToUpper(s)
	if _, ok := dns.StringToClass[u]; ok {
		return true
	}
	n, ok := strings.CutPrefix(u, "CLASS")
	if !ok {
		return false
	}
	_, err := strconv.ParseUint(n, 10, 16)
	return err == nil
}
