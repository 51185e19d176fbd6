package roothints

import (
	"github.com/miekg/dns"
)

// rootAnchors are the root zone's key-signing keys as DS records, the
// values IANA publishes (root-anchors.xml): KSK-2017 (key tag 20326) and
// KSK-2024 (38696), algorithm 8 (RSA/SHA-256), digest type 2 (SHA-256).
// Debian's dns-root-data ships the same two lines in /usr/share/dns/root.ds.
var rootAnchors = []string{
	". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
	". IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16",
}

// TrustAnchors returns the root's trust anchors, fresh DS records the
// caller may keep. They belong with Default's hints: a resolver that
// starts from other root servers has another root, and other anchors.
func TrustAnchors() []dns.RR {
	out := make([]dns.RR, 0, len(rootAnchors))
	for _, s := range rootAnchors {
		rr, err := dns.NewRR(s)
		if err != nil {
			panic("roothints: embedded trust anchor is broken: " + err.Error())
		}
		out = append(out, rr)
	}
	return out
}

// IsDefault reports whether h lists the same servers and addresses as the
// embedded IANA hints: only then do the root's trust anchors apply.
func (h *Hints) IsDefault() bool {
	d := Default()
	if h == nil || len(h.Servers) != len(d.Servers) {
		return false
	}
	for i, s := range h.Servers {
		ds := d.Servers[i]
		if s.Name != ds.Name || len(s.Addrs) != len(ds.Addrs) {
			return false
		}
		for j, a := range s.Addrs {
			if a != ds.Addrs[j] {
				return false
			}
		}
	}
	return true
}
