package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/recursor-dns/recursor/localdata"
)

// localDataFlags are Unbound's local-zone, local-data and local-data-ptr
// settings, and hosts files: names answered from memory. A reload reads
// them, hosts files included, afresh.
type localDataFlags struct {
	zones, data, ptrs, hosts []string
}

func (f *localDataFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.zones, "local-zone", nil, `local zone "NAME TYPE", as Unbound's local-zone: TYPE static, transparent, typetransparent, redirect, refuse, deny, always_transparent, always_refuse, always_nxdomain, always_nodata, always_deny, always_null or nodefault (repeatable)`)
	fs.StringArrayVar(&f.data, "local-data", nil, `record answered from memory, in zone file form, as Unbound's local-data: "www.example.com. 3600 IN A 192.0.2.1" (repeatable; a name no --local-zone covers gets a transparent zone)`)
	fs.StringArrayVar(&f.ptrs, "local-data-ptr", nil, `PTR record "ADDR [TTL] NAME" for the reverse name of ADDR, as Unbound's local-data-ptr (repeatable)`)
	fs.StringArrayVar(&f.hosts, "hosts", nil, "hosts file in /etc/hosts form whose names (A, AAAA) and addresses (PTR) are answered from memory (repeatable)")
}

// table builds the local data the flags describe; nil when there is none.
func (f *localDataFlags) table() (*localdata.Table, error) {
	if len(f.zones)+len(f.data)+len(f.ptrs)+len(f.hosts) == 0 {
		return nil, nil
	}
	t, err := localdata.Load(localdata.Config{Zones: f.zones, Data: f.data, PTRs: f.ptrs, Hosts: f.hosts})
	if err != nil {
		return nil, fmt.Errorf("local data: %w", err)
	}
	return t, nil
}

// Local is the running engine's resolver.Resolver.Local, which the
// server's access control asks.
func (l *liveEngine) Local(name string, qtype uint16) bool { return l.get().Local(name, qtype) }
