package testnet

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// ErrLDNSNotFound means ldns-signzone is not installed.
var ErrLDNSNotFound = errors.New("testnet: ldns-signzone not found in PATH (Debian package ldnsutils)")

// ldnsSign signs z with ldns-signzone, with the same keys, validity and
// denial as signZone, and returns the zone it wrote. z holds the DS records
// of its signed children already.
func ldnsSign(z *zone, p *policy, keys zoneKeys, fsys fs.FS, valid period) (*zone, error) {
	tool, err := exec.LookPath("ldns-signzone")
	if err != nil {
		return nil, ErrLDNSNotFound
	}
	dir, err := os.MkdirTemp("", "testnet-ldns-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	for _, k := range keys {
		for _, ext := range []string{".key", ".private"} {
			data, err := readSmall(fsys, path.Join(KeysDir, k.base+ext))
			if err != nil {
				return nil, err
			}
			if err := os.WriteFile(filepath.Join(dir, k.base+ext), data, 0o600); err != nil {
				return nil, err
			}
		}
	}
	in, out := filepath.Join(dir, "unsigned.zone"), filepath.Join(dir, "signed.zone")
	if err := writeZoneFile(in, z); err != nil {
		return nil, err
	}
	args := []string{"-f", out, "-o", z.origin,
		"-i", strconv.FormatUint(uint64(valid.inception), 10),
		"-e", strconv.FormatUint(uint64(valid.expiration), 10)}
	if p.denial == NSEC3 {
		args = append(args, "-n", "-a", "1", "-t", strconv.Itoa(int(p.iterations)))
		if p.salt != "" {
			args = append(args, "-s", p.salt)
		}
		if p.optOut {
			args = append(args, "-p")
		}
	}
	args = append(args, in)
	for _, k := range keys {
		args = append(args, filepath.Join(dir, k.base))
	}
	cmd := exec.Command(tool, args...)
	cmd.Dir = dir
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("zone %s: ldns-signzone: %v: %s", z.origin, err, strings.TrimSpace(string(msg)))
	}
	f, err := os.Open(out)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseZone(z.origin, out, io.LimitReader(f, maxZoneFileBytes))
}

// writeZoneFile writes z to file in master format.
func writeZoneFile(file string, z *zone) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := writeZone(f, z); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeZone writes z in master format, one record a line, fully qualified:
// the SOA first, then the names in canonical order, the types of each in
// numeric order.
func writeZone(w io.Writer, z *zone) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, z.soa.String())
	for _, name := range z.sortedNames() {
		n := z.nodes[name]
		for _, t := range sortedTypes(n) {
			for _, rr := range n.rrsets[t] {
				if t == dns.TypeSOA {
					continue
				}
				fmt.Fprintln(bw, rr.String())
			}
		}
	}
	return bw.Flush()
}
