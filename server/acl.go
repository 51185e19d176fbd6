package server

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Access control, as Unbound's access-control: each client network gets
// an action, and the longest prefix holding the client's address decides.
// The lookup runs on every query, the ready-answer fast path's included,
// so it is a few map probes (one per prefix length in use) and allocates
// nothing.

// Action is what the server does with the queries of a client network.
type Action uint8

// Actions, with Unbound's meanings. The zero value refuses.
const (
	// ActionRefuse answers REFUSED with EDE 18 (Prohibited).
	ActionRefuse Action = iota
	// ActionAllow answers recursive queries; RD=0 queries get REFUSED
	// (EDE 20), since answering them lets anyone snoop on the cache.
	ActionAllow
	// ActionAllowSnoop answers recursive queries, and RD=0 queries from
	// the cache: the answer, else the closest cached delegation as a
	// referral.
	ActionAllowSnoop
	// ActionDeny drops queries without an answer (over TCP, closes the
	// connection): a REFUSED to a spoofed source would reflect.
	ActionDeny
	// ActionRefuseNonLocal answers only questions Config.Local says are
	// local data, as ActionAllow does; the rest get REFUSED.
	ActionRefuseNonLocal
	// ActionDenyNonLocal answers only local data, as ActionAllow does;
	// the rest are dropped.
	ActionDenyNonLocal
)

var actionNames = [...]string{
	ActionRefuse:         "refuse",
	ActionAllow:          "allow",
	ActionAllowSnoop:     "allow_snoop",
	ActionDeny:           "deny",
	ActionRefuseNonLocal: "refuse_non_local",
	ActionDenyNonLocal:   "deny_non_local",
}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", a)
}

// String is NET=ACTION, as ParseAccessRule reads it.
func (r AccessRule) String() string { return r.Prefix.String() + "=" + r.Action.String() }

// MarshalText is String, for logs in JSON.
func (r AccessRule) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// ParseAction reads an action by Unbound's name.
func ParseAction(s string) (Action, error) {
	for a, name := range actionNames {
		if strings.EqualFold(s, name) {
			return Action(a), nil
		}
	}
	return 0, fmt.Errorf("unknown access-control action %q: want one of %s", s, strings.Join(actionNames[:], ", "))
}

// AccessRule gives the clients in Prefix an Action.
type AccessRule struct {
	Prefix netip.Prefix
	Action Action
}

// ParseAccessRule reads NET=ACTION, or Unbound's "NET ACTION"; NET is a
// CIDR prefix or a single address.
func ParseAccessRule(s string) (AccessRule, error) {
	net, action, ok := strings.Cut(strings.TrimSpace(s), "=")
	if !ok {
		f := strings.Fields(s)
		if len(f) != 2 {
			return AccessRule{}, fmt.Errorf("access rule %q: want NET=ACTION, e.g. 192.0.2.0/24=allow", s)
		}
		net, action = f[0], f[1]
	}
	p, err := parsePrefix(strings.TrimSpace(net))
	if err != nil {
		return AccessRule{}, fmt.Errorf("access rule %q: %w", s, err)
	}
	a, err := ParseAction(strings.TrimSpace(action))
	if err != nil {
		return AccessRule{}, fmt.Errorf("access rule %q: %w", s, err)
	}
	return AccessRule{Prefix: p, Action: a}, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR prefix or address", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// accessList maps client addresses to actions, longest prefix first.
// A few rules (the default two, a handful of networks) are scanned in
// order, which costs less than hashing the client's prefix; more are
// looked up by prefix length in maps.
type accessList struct {
	few    []AccessRule  // the rules, longest prefix first, when few
	v4, v6 []prefixLevel // longest prefix length first, when not few
}

// fewRules is the most rules scanned one by one.
const fewRules = 8

// prefixLevel holds the rules of one prefix length, keyed by the
// network's address bits (hashing a netip.Prefix costs several times more).
type prefixLevel struct {
	bits  int // as an IPv6 prefix: IPv4 networks count 96 more
	rules map[addrBits]Action
}

// addrBits is an address in 128 bits, IPv4 in its mapped form.
type addrBits struct{ hi, lo uint64 }

func bitsOf(a netip.Addr) addrBits {
	b := a.As16()
	return addrBits{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// masked keeps the first n bits of a.
func (a addrBits) masked(n int) addrBits {
	switch {
	case n <= 0:
		return addrBits{}
	case n < 64:
		return addrBits{a.hi &^ (^uint64(0) >> n), 0}
	case n == 64:
		return addrBits{a.hi, 0}
	case n < 128:
		return addrBits{a.hi, a.lo &^ (^uint64(0) >> (n - 64))}
	}
	return a
}

// mappedBits is the length of p as an IPv6 prefix.
func mappedBits(p netip.Prefix) int {
	if p.Addr().Is4() {
		return p.Bits() + 96
	}
	return p.Bits()
}

// newAccessList builds the list; of two rules for the same network, the
// later wins. An IPv4-mapped IPv6 prefix is taken as the IPv4 one, since
// clients are matched unmapped.
func newAccessList(rules []AccessRule) accessList {
	var l accessList
	unique := map[netip.Prefix]int{} // index in l.few
	for _, r := range rules {
		p := r.Prefix.Masked()
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		if i, ok := unique[p]; ok {
			l.few[i].Action = r.Action
		} else {
			unique[p] = len(l.few)
			l.few = append(l.few, AccessRule{Prefix: p, Action: r.Action})
		}
		levels := &l.v6
		if p.Addr().Is4() {
			levels = &l.v4
		}
		bits := mappedBits(p)
		i := slices.IndexFunc(*levels, func(lv prefixLevel) bool { return lv.bits == bits })
		if i < 0 {
			*levels = append(*levels, prefixLevel{bits: bits, rules: map[addrBits]Action{}})
			i = len(*levels) - 1
		}
		(*levels)[i].rules[bitsOf(p.Addr())] = r.Action
	}
	for _, levels := range []*[]prefixLevel{&l.v4, &l.v6} {
		slices.SortFunc(*levels, func(a, b prefixLevel) int { return b.bits - a.bits })
	}
	if len(l.few) > fewRules {
		l.few = nil
	} else {
		l.v4, l.v6 = nil, nil
		slices.SortStableFunc(l.few, func(a, b AccessRule) int { return b.Prefix.Bits() - a.Prefix.Bits() })
	}
	return l
}

// action returns the action of client's longest matching prefix, and
// ActionRefuse when none matches.
func (l *accessList) action(client netip.Addr) Action {
	// A prefix never holds a zoned address: fe80::1%eth0 is matched as
	// fe80::1.
	client = client.Unmap().WithZone("")
	if l.v4 == nil && l.v6 == nil {
		for _, r := range l.few {
			if r.Prefix.Contains(client) {
				return r.Action
			}
		}
		return ActionRefuse
	}
	levels := l.v6
	if client.Is4() {
		levels = l.v4
	}
	c := bitsOf(client)
	for _, lv := range levels {
		if a, ok := lv.rules[c.masked(lv.bits)]; ok {
			return a
		}
	}
	return ActionRefuse
}
