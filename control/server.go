package control

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/recursor-dns/recursor/resolver"
)

// Config configures a Server. Path and Engine are required.
type Config struct {
	Path string // the socket's file name
	// Engine returns the engine to act on: the running one, which a
	// reload replaces.
	Engine func() *resolver.Resolver
	// Stats writes the server's figures as text (the stats command).
	Stats func(io.Writer) error
	// Trace resolves name and qtype, writing every upstream exchange and
	// then the answer to w (the trace command).
	Trace func(ctx context.Context, w io.Writer, name string, qtype uint16) error
	// Reload re-reads the configuration (the reload command), writing
	// what it could not apply to w.
	Reload func(w io.Writer) error
	// Changed is called after a command changed the engine's data (a
	// flush, a negative trust anchor, a reload), so that answers kept
	// outside the engine (the DNS server's ready-packed ones) go too.
	Changed func()
	// CommandTimeout bounds one command; default DefaultCommandTimeout.
	CommandTimeout time.Duration
	Logger         *slog.Logger
}

// DefaultCommandTimeout bounds a command (a trace, a load of a large
// cache file) when Config.CommandTimeout is zero.
const DefaultCommandTimeout = time.Minute

// Server serves the control socket.
type Server struct {
	cfg  Config
	ln   *net.UnixListener
	conn sync.WaitGroup
}

// Listen creates the socket at cfg.Path with mode 0600. A socket file left
// there by a server that is gone is replaced; one that a running server
// answers on, or a file of another kind, is an error.
func Listen(cfg Config) (*Server, error) {
	if cfg.Path == "" || cfg.Engine == nil {
		return nil, errors.New("control: Path and Engine are required")
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = DefaultCommandTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := removeStale(cfg.Path); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: cfg.Path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(cfg.Path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return &Server{cfg: cfg, ln: ln}, nil
}

// removeStale removes a socket file at path that no server answers on.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("control socket %s: a file that is not a socket is in the way", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("control socket %s: another server is listening on it", path)
	}
	return os.Remove(path)
}

// Path returns the socket's file name.
func (s *Server) Path() string { return s.cfg.Path }

// Serve answers commands until ctx ends, then closes the socket, removes
// its file and waits for the commands under way (cancelled with ctx).
func (s *Server) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.ln.Close() })
	defer stop()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			s.ln.Close()
			s.conn.Wait()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("control socket: %w", err)
		}
		s.conn.Go(func() { s.handle(ctx, c) })
	}
}

// Close closes the socket and removes its file, for a Server never served.
func (s *Server) Close() error {
	return s.ln.Close() // a listener made by ListenUnix unlinks its file
}

// handle runs one connection's command.
func (s *Server) handle(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CommandTimeout)
	defer cancel()
	c.SetDeadline(time.Now().Add(s.cfg.CommandTimeout))
	bw := bufio.NewWriter(c)
	defer bw.Flush()
	if err := checkPeer(c); err != nil {
		fmt.Fprintf(bw, "error: %v\n", err)
		return
	}
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		fmt.Fprintf(bw, "error: reading the command: %v\n", err)
		return
	}
	args := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
	lw := &lineWriter{w: bw}
	err = s.run(ctx, lw, args, br)
	lw.end()
	status := "ok"
	if err != nil {
		status = "error: " + oneLine(err.Error())
	}
	s.cfg.Logger.Info("control command", "command", args[0], "args", args[1:], "status", status)
	fmt.Fprintln(bw, status)
}

// run looks the command up, checks its arguments and runs it.
func (s *Server) run(ctx context.Context, w *lineWriter, args []string, body io.Reader) error {
	name := args[0]
	if name == "help" {
		return Help(w)
	}
	cmd, ok := commands[name]
	if !ok {
		return fmt.Errorf("unknown command %q (recursor control help lists them)", name)
	}
	n := len(args) - 1
	if n < cmd.minArgs || n > cmd.maxArgs {
		return fmt.Errorf("usage: %s", strings.TrimSpace(name+" "+cmd.usage))
	}
	return cmd.run(s, ctx, w, args[1:], body)
}

func (s *Server) engine() *resolver.Resolver { return s.cfg.Engine() }

func (s *Server) afterChange() {
	if s.cfg.Changed != nil {
		s.cfg.Changed()
	}
}

// oneLine keeps an error message on the status line.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

// lineWriter prefixes every line written with "> ".
type lineWriter struct {
	w       *bufio.Writer
	midLine bool
}

func (l *lineWriter) Write(p []byte) (int, error) {
	for i := 0; i < len(p); {
		if !l.midLine {
			l.w.WriteString("> ")
			l.midLine = true
		}
		j := i
		for j < len(p) && p[j] != '\n' {
			j++
		}
		if j < len(p) {
			j++ // the newline
			l.midLine = false
		}
		if _, err := l.w.Write(p[i:j]); err != nil {
			return i, err
		}
		i = j
	}
	return len(p), nil
}

// end finishes a last line without newline.
func (l *lineWriter) end() {
	if l.midLine {
		l.w.WriteByte('\n')
		l.midLine = false
	}
}
