package control

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Run sends one command (args: its name and arguments) to the server
// listening at path and writes the output to out. dump-cache and
// load-cache take a file name, which Run writes or reads itself. The
// error is the server's one line of reason, or why the server could not
// be reached.
func Run(ctx context.Context, path string, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("no command given (recursor control help lists them)")
	}
	for _, a := range args {
		if strings.ContainsAny(a, "\t\n") {
			return fmt.Errorf("argument %q: tabs and newlines cannot be sent", a)
		}
	}
	var body io.Reader
	switch args[0] {
	case "load-cache":
		if len(args) != 2 {
			return errors.New("usage: load-cache FILE")
		}
		f, err := os.Open(args[1])
		if err != nil {
			return err
		}
		defer f.Close()
		body = f
	case "dump-cache":
		if len(args) != 2 {
			return errors.New("usage: dump-cache FILE")
		}
		return WriteFileAtomically(args[1], func(w io.Writer) error {
			return exchange(ctx, path, args, nil, w)
		})
	}
	return exchange(ctx, path, args, body, out)
}

// exchange sends the command line and body, and copies the output lines
// to out until the status line.
func exchange(ctx context.Context, path string, args []string, body io.Reader, out io.Writer) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return dialError(path, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c := conn.(*net.UnixConn)
	if _, err := io.WriteString(c, strings.Join(args, "\t")+"\n"); err != nil {
		return fmt.Errorf("sending the command: %w", err)
	}
	if body != nil {
		if _, err := io.Copy(c, body); err != nil {
			return fmt.Errorf("sending %s: %w", args[1], err)
		}
	}
	c.CloseWrite()
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "> "):
			if _, err := io.WriteString(out, line[2:]+"\n"); err != nil {
				return err
			}
		case line == "ok":
			return nil
		case strings.HasPrefix(line, "error: "):
			return errors.New(line[len("error: "):])
		default:
			return fmt.Errorf("the server sent %q, not a control reply", line)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading the reply: %w", err)
	}
	return errors.New("the server closed the connection before its reply ended")
}

// dialError says why the socket could not be reached, and what to check.
func dialError(path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("no control socket at %s: is the server running, with --control-socket %s?", path, path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s: permission denied: run as the server's user (or root)", path)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%s: no server listening (a socket left by a server that is gone?)", path)
	}
	return fmt.Errorf("control socket: %w", err)
}

// WriteFileAtomically writes name through a temporary file in its directory,
// renamed into place only when write succeeded, so that name is never a
// half-written file.
func WriteFileAtomically(name string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	bw := bufio.NewWriterSize(tmp, 64<<10)
	if err := write(bw); err != nil {
		tmp.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
