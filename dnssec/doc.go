// Package dnssec is the resolver's DNSSEC validator: the canonical form and
// ordering of records (RFC 4034 section 6), signature verification with keys
// parsed once, the signature clock-skew rule, the DS-to-DNSKEY step of the
// chain of trust, and NSEC/NSEC3 denial-of-existence proofs (RFC 4035, 5155,
// 6840, 7129, 9276). All of it runs under a per-query Budget that bounds the
// work an attacker can cause (KeyTrap CVE-2023-50387, NSEC3 CVE-2023-50868).
//
// The package is pure: no I/O, no cache, no goroutines, no package-level
// mutable state. The resolver's validate stage finds the records and the
// trust; this package only judges them.
package dnssec
