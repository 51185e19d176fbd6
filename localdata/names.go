package localdata

import (
	"strings"

	"github.com/miekg/dns"
)

// parentOf returns the name one label up from name (canonical), "." for a
// top-level name and "" for the root.
func parentOf(name string) string {
	if name == "." || name == "" {
		return ""
	}
	off, end := dns.NextLabel(name, 0)
	if end {
		return "."
	}
	return name[off:]
}

// inZone reports whether name is zone or below it (both canonical).
func inZone(name, zone string) bool {
	return zone == "." || name == zone || strings.HasSuffix(name, "."+zone) && dns.IsSubDomain(zone, name)
}

// compareNames orders names for stable listings.
func compareNames(a, b string) int { return strings.Compare(a, b) }
