package testnet

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// SigningFile is the file of a sandbox directory that says how each zone is
// signed; a sandbox without one is unsigned.
const SigningFile = "signing.conf"

// KeysDir is the directory, inside a sandbox directory, of the zones' keys:
// K<zone>+<alg>+<tag>.key and .private in BIND format.
const KeysDir = "keys"

// Denial is how a signed zone proves that names and types do not exist.
type Denial string

// Denials, as written in signing.conf.
const (
	Unsigned Denial = "unsigned"
	NSEC     Denial = "nsec"
	NSEC3    Denial = "nsec3"
)

// maxNSEC3Iterations bounds what signing.conf may ask for, so a typo costs
// little (RFC 5155 allows up to 2,500 for the largest keys).
const maxNSEC3Iterations = 2500

// policy is one line of signing.conf.
type policy struct {
	zone       string // fully qualified, lower case
	denial     Denial
	salt       string // hex, upper case; "" for none
	iterations uint16
	optOut     bool
	breaks     []*breakage
}

func (p *policy) signed() bool { return p != nil && p.denial != Unsigned }

// readPolicies reads signing.conf from fsys, if there is one.
func readPolicies(fsys fs.FS) (map[string]*policy, error) {
	f, err := fsys.Open(SigningFile)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]*policy{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	policies, err := parsePolicies(io.LimitReader(f, maxConfBytes))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", SigningFile, err)
	}
	return policies, nil
}

// parsePolicies reads signing.conf: "zone denial [option ...]" a line, '#'
// starting a comment.
func parsePolicies(r io.Reader) (map[string]*policy, error) {
	policies := map[string]*policy{}
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		p, err := parsePolicy(fields)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if policies[p.zone] != nil {
			return nil, fmt.Errorf("line %d: zone %s listed twice", line, p.zone)
		}
		policies[p.zone] = p
	}
	return policies, sc.Err()
}

func parsePolicy(fields []string) (*policy, error) {
	if len(fields) < 2 {
		return nil, errors.New("want: zone denial [option ...]")
	}
	p := &policy{zone: canonical(fields[0]), denial: Denial(fields[1])}
	if _, ok := dns.IsDomainName(p.zone); !ok {
		return nil, fmt.Errorf("bad zone name %q", fields[0])
	}
	switch p.denial {
	case Unsigned, NSEC, NSEC3:
	default:
		return nil, fmt.Errorf("zone %s: denial %q, want unsigned, nsec or nsec3", p.zone, fields[1])
	}
	for _, opt := range fields[2:] {
		if err := p.setOption(opt); err != nil {
			return nil, fmt.Errorf("zone %s: %w", p.zone, err)
		}
	}
	return p, nil
}

func (p *policy) setOption(opt string) error {
	key, value, _ := strings.Cut(opt, "=")
	nsec3Only := key == "salt" || key == "iterations" || key == "optout"
	switch {
	case nsec3Only && p.denial != NSEC3:
		return fmt.Errorf("option %s is for nsec3 zones", key)
	case key == "break" && p.denial == Unsigned:
		return errors.New("an unsigned zone has nothing to break")
	}
	switch key {
	case "salt":
		if _, err := hex.DecodeString(value); err != nil || len(value) == 0 || len(value) > 2*255 {
			return fmt.Errorf("salt %q: want 1 to 255 bytes in hex", value)
		}
		p.salt = strings.ToUpper(value)
	case "iterations":
		n, err := strconv.ParseUint(value, 10, 16)
		if err != nil || n > maxNSEC3Iterations {
			return fmt.Errorf("iterations %q: want 0 to %d", value, maxNSEC3Iterations)
		}
		p.iterations = uint16(n)
	case "optout":
		p.optOut = true
	case "break":
		for name := range strings.SplitSeq(value, ",") {
			b := breakages[name]
			if b == nil {
				return fmt.Errorf("unknown breakage %q", name)
			}
			p.breaks = append(p.breaks, b)
		}
	default:
		return fmt.Errorf("unknown option %q", opt)
	}
	return nil
}
