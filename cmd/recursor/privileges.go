package main

// Privileges: `recursor serve` started as root binds its sockets (port 53
// needs root or CAP_NET_BIND_SERVICE), then runs as --user. Running on as
// root takes --allow-root.

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"strconv"
	"syscall"

	"github.com/recursor-dns/recursor/server"
)

// errRunningAsRoot says how to start as root.
var errRunningAsRoot = errors.New("refusing to run as root: give --user NAME to run as NAME once the sockets are bound, " +
	"or --allow-root to stay root (not recommended); or start as that user with CAP_NET_BIND_SERVICE (docs/recursor.service)")

// identity is the user serve runs as after binding.
type identity struct {
	name     string
	uid, gid int
	groups   []int
}

// plannedIdentity checks --user and --allow-root against the user serve
// runs as: it returns whom to become after binding, nil for no change.
// euid is the effective user ID (os.Geteuid, injected by tests).
func (f *serverOpsFlags) plannedIdentity(euid int) (*identity, error) {
	if f.user == "" {
		if euid == 0 && !f.allowRoot {
			return nil, errRunningAsRoot
		}
		return nil, nil
	}
	u, err := user.Lookup(f.user)
	if err != nil {
		return nil, fmt.Errorf("--user %q: %w", f.user, err)
	}
	id := &identity{name: u.Username}
	if id.uid, err = strconv.Atoi(u.Uid); err != nil {
		return nil, fmt.Errorf("--user %q: uid %q: %w", f.user, u.Uid, err)
	}
	if id.gid, err = strconv.Atoi(u.Gid); err != nil {
		return nil, fmt.Errorf("--user %q: gid %q: %w", f.user, u.Gid, err)
	}
	if euid != 0 {
		if id.uid == euid {
			return nil, nil // already that user
		}
		return nil, fmt.Errorf("--user %q: only root can become another user (running as uid %d)", f.user, euid)
	}
	if id.uid == 0 {
		return nil, fmt.Errorf("--user %q is root: name an unprivileged user, or use --allow-root", f.user)
	}
	gids, err := u.GroupIds()
	if err != nil {
		gids = []string{u.Gid} // no group database entry: the primary group alone
	}
	for _, g := range gids {
		if n, err := strconv.Atoi(g); err == nil {
			id.groups = append(id.groups, n)
		}
	}
	return id, nil
}

// become drops root for id: supplementary groups, group, then user (after
// which nothing else could be changed). Go applies each to every thread
// of the process (Linux, Go 1.16 and later).
func (id *identity) become() error {
	if err := syscall.Setgroups(id.groups); err != nil {
		return fmt.Errorf("--user %s: setgroups: %w", id.name, err)
	}
	if err := syscall.Setgid(id.gid); err != nil {
		return fmt.Errorf("--user %s: setgid %d: %w", id.name, id.gid, err)
	}
	if err := syscall.Setuid(id.uid); err != nil {
		return fmt.Errorf("--user %s: setuid %d: %w", id.name, id.uid, err)
	}
	if os.Getuid() != id.uid || os.Geteuid() != id.uid || os.Getegid() != id.gid {
		return fmt.Errorf("--user %s: still uid %d euid %d egid %d after the change", id.name, os.Getuid(), os.Geteuid(), os.Getegid())
	}
	return nil
}

// handOver gives id the files serve keeps writing after the drop that it
// created as root: the control socket (which it removes at shutdown).
func (id *identity) handOver(paths ...string) error {
	for _, p := range paths {
		if p == "" {
			continue
		}
		if err := os.Lchown(p, id.uid, id.gid); err != nil {
			return fmt.Errorf("--user %s: %w", id.name, err)
		}
	}
	return nil
}

// dropPrivileges binds srv's sockets and becomes id (nil: stays as is,
// and Serve binds). The control socket, already open, is handed to id; the
// cache file is written at shutdown as id, so its directory must be
// writable by id, and a reload reads the config, root hints and trust
// anchor files as id.
func dropPrivileges(srv *server.Server, id *identity, sf *serveFlags, log *slog.Logger) error {
	if id == nil {
		return nil
	}
	if _, err := srv.Listen(); err != nil {
		return err
	}
	if err := id.handOver(sf.controlSocket); err != nil {
		return err
	}
	if err := id.become(); err != nil {
		return err
	}
	log.Info("running as", "user", id.name, "uid", id.uid, "gid", id.gid)
	return nil
}
