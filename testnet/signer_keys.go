package testnet

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// anchorTTL is the TTL of the trust anchor's DS records and of the keys as
// read (a zone's DNSKEY RRset takes the TTL of its SOA, as with
// ldns-signzone).
const anchorTTL = 3600

// maxKeyFileBytes bounds one key file.
const maxKeyFileBytes = 64 << 10

// zoneKey is a key of a zone: the DNSKEY record and its private part.
type zoneKey struct {
	dnskey *dns.DNSKEY
	signer crypto.Signer
	base   string // file name without .key or .private, for ldns-signzone
}

// zoneKeys are the keys of one zone, in key-tag order.
type zoneKeys []zoneKey

// ksks returns the keys with the SEP flag (key-signing keys).
func (ks zoneKeys) ksks() zoneKeys {
	return slices.DeleteFunc(slices.Clone(ks), func(k zoneKey) bool { return k.dnskey.Flags&dns.SEP == 0 })
}

// zsks returns the keys that sign the zone's data: those without the SEP
// flag, or every key when all have it.
func (ks zoneKeys) zsks() zoneKeys {
	zsks := slices.DeleteFunc(slices.Clone(ks), func(k zoneKey) bool { return k.dnskey.Flags&dns.SEP != 0 })
	if len(zsks) == 0 {
		return ks
	}
	return zsks
}

// byTag finds the key of algorithm alg and tag tag.
func (ks zoneKeys) byTag(alg uint8, tag uint16) (zoneKey, bool) {
	for _, k := range ks {
		if k.dnskey.Algorithm == alg && k.dnskey.KeyTag() == tag {
			return k, true
		}
	}
	return zoneKey{}, false
}

// readKeys reads every K*.key file of the keys directory and its .private
// file, and files them by zone. A sandbox without a keys directory has none.
func readKeys(fsys fs.FS) (map[string]zoneKeys, error) {
	entries, err := fs.ReadDir(fsys, KeysDir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]zoneKeys{}, nil
	}
	if err != nil {
		return nil, err
	}
	keys := map[string]zoneKeys{}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "K") || !strings.HasSuffix(name, ".key") {
			continue
		}
		k, err := readKey(fsys, strings.TrimSuffix(name, ".key"))
		if err != nil {
			return nil, err
		}
		zone := canonical(k.dnskey.Hdr.Name)
		keys[zone] = append(keys[zone], k)
	}
	for _, ks := range keys {
		slices.SortFunc(ks, func(a, b zoneKey) int { return int(a.dnskey.KeyTag()) - int(b.dnskey.KeyTag()) })
	}
	return keys, nil
}

// readKey reads base.key and base.private from the keys directory.
func readKey(fsys fs.FS, base string) (zoneKey, error) {
	pub, err := readSmall(fsys, path.Join(KeysDir, base+".key"))
	if err != nil {
		return zoneKey{}, err
	}
	rr, err := dns.NewRR(string(pub))
	if err != nil {
		return zoneKey{}, fmt.Errorf("%s.key: %w", base, err)
	}
	dnskey, ok := rr.(*dns.DNSKEY)
	if !ok {
		return zoneKey{}, fmt.Errorf("%s.key: not a DNSKEY record", base)
	}
	dnskey.Hdr.Name = canonical(dnskey.Hdr.Name)
	dnskey.Hdr.Ttl = anchorTTL
	priv, err := readSmall(fsys, path.Join(KeysDir, base+".private"))
	if err != nil {
		return zoneKey{}, err
	}
	key, err := dnskey.ReadPrivateKey(bytes.NewReader(priv), base+".private")
	if err != nil {
		return zoneKey{}, fmt.Errorf("%s.private: %w", base, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return zoneKey{}, fmt.Errorf("%s.private: cannot sign with a %T", base, key)
	}
	return zoneKey{dnskey: dnskey, signer: deterministicSigner{signer}, base: base}, nil
}

// deterministicSigner signs without randomness: ECDSA by RFC 6979 (RSA
// PKCS #1 v1.5 and Ed25519 are deterministic anyway), so that a sandbox
// signed twice at the same clock is the same, byte for byte.
type deterministicSigner struct{ crypto.Signer }

func (d deterministicSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return d.Signer.Sign(nil, digest, opts)
}

// readCollisions reads keys/<zone>collisions: public DNSKEY records that
// share a key tag with one of the zone's keys (the keytrap breakage).
func readCollisions(fsys fs.FS, zone string) ([]*dns.DNSKEY, error) {
	file := path.Join(KeysDir, trimRoot(zone)+"collisions")
	data, err := readSmall(fsys, file)
	if err != nil {
		return nil, err
	}
	var keys []*dns.DNSKEY
	zp := dns.NewZoneParser(bytes.NewReader(data), zone, file)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		k, isKey := rr.(*dns.DNSKEY)
		if !isKey || canonical(k.Hdr.Name) != zone {
			return nil, fmt.Errorf("%s: %s is not a DNSKEY of %s", file, rr.Header().Name, zone)
		}
		k.Hdr.Name, k.Hdr.Ttl = zone, anchorTTL
		keys = append(keys, k)
	}
	if err := zp.Err(); err != nil {
		return nil, err
	}
	return keys, nil
}

func readSmall(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxKeyFileBytes))
}
