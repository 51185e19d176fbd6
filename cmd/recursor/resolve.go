package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"

	"github.com/recursor-dns/recursor/dnssec"
	"github.com/recursor-dns/recursor/resolver"
	"github.com/recursor-dns/recursor/server"
)

func newResolveCommand() *cobra.Command {
	var (
		ef      engineFlags
		trace   bool
		asJSON  bool
		verbose bool
		reverse string
		opts    resolveOptions
	)
	cmd := &cobra.Command{
		Use:   "resolve NAME [TYPE] [CLASS] | -x ADDR",
		Short: "Resolve one question by iteration from the root and print the answer",
		Long: `Resolve one question by iteration from the root and print the answer as dig does.
The name, the type (A by default; a mnemonic or TYPEnnn) and the class (IN)
may come in any order; a Unicode name is converted with IDNA 2008; -x ADDR
asks for the PTR of an IPv4 or IPv6 address. Exit status: 0 for an answer
(NXDOMAIN included), 9 when none could be had (SERVFAIL), 1 for a bad
command line, in --json mode too. Shell completion of types and flag
values: recursor completion bash|zsh|fish.`,
		Example: `  recursor resolve --sandbox www.shop.example.com A --trace
  recursor resolve --root-hints ./named.root MX example.org
  recursor resolve -x 192.0.2.1 --short`,
		Args: cobra.RangeArgs(0, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, qtype, err := parseQuestion(args, reverse)
			if err != nil {
				return err
			}
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			e, err := ef.build(log)
			if err != nil {
				return err
			}
			defer e.Close()
			opts.trace, opts.asJSON = trace, asJSON
			return runResolve(cmd.Context(), cmd.OutOrStdout(), e.resolver, name, qtype, opts)
		},
	}
	ef.register(cmd.Flags())
	cmd.Flags().BoolVar(&trace, "trace", false, "print every upstream exchange as it happens, each referral's NS names and glue kept, and fallbacks to TCP")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the response as JSON with RFC 8427's member names, as kdig +json (the trace under \"trace\" with --trace)")
	cmd.Flags().BoolVar(&opts.dnssec, "dnssec", false, "show RRSIGs, denial proofs and the AD flag, and print the validation verdict as delv does")
	cmd.Flags().BoolVar(&opts.cd, "cd", false, "checking disabled: show data that fails validation instead of failing")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log debug lines to stderr")
	cmd.Flags().StringVarP(&reverse, "reverse", "x", "", "ask for the PTR record of this IPv4 or IPv6 address (as dig -x)")
	cmd.Flags().BoolVar(&opts.short, "short", false, "print the answer's data alone, one record a line (as dig +short)")
	return cmd
}

// resolveOptions are the output switches of the resolve command.
type resolveOptions struct {
	trace, asJSON bool
	dnssec        bool // DO: show RRSIGs and proofs, and the verdict
	cd            bool // CD: show bogus data
	short         bool // the answer's RDATA alone
}

func runResolve(ctx context.Context, out io.Writer, r *resolver.Resolver, name string, qtype uint16, o resolveOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	var (
		mu    sync.Mutex
		steps []jsonStep
	)
	if o.trace {
		ctx = resolver.WithTrace(ctx, func(s resolver.Step) {
			mu.Lock()
			defer mu.Unlock()
			js := stepOf(s)
			if o.asJSON {
				steps = append(steps, js)
				return
			}
			printStep(out, s, js)
		})
	}
	start := time.Now()
	var a resolver.Answer
	var err error
	if qtype == dns.TypeANY {
		// As recursor serve answers it (RFC 8482), not asked upstream.
		q := dns.Question{Name: dns.Fqdn(name), Qtype: qtype, Qclass: dns.ClassINET}
		a.Msg = server.ANYAnswer(q)
		a.Msg.Question, a.Msg.Response, a.Msg.RecursionAvailable = []dns.Question{q}, true, true
	} else {
		a, err = r.Query(ctx, dns.Fqdn(name), qtype, resolver.Options{DNSSECOK: o.dnssec, CheckingDisabled: o.cd})
	}
	t := timing{start: start, elapsed: time.Since(start)}
	if o.asJSON {
		return printJSON(out, name, qtype, a, err, o, t, steps)
	}
	if o.trace {
		fmt.Fprintln(out)
	}
	if err != nil {
		if !o.short {
			// As dig shows a server's SERVFAIL: the status and the EDE;
			// the error line on stderr says the rest.
			code, text := resolver.ExtendedError(err)
			printDig(out, resolver.Answer{Msg: servfail(name, qtype), EDE: code, Why: text}, o, t)
		}
		return noAnswer{err}
	}
	if o.short {
		for _, rr := range a.Msg.Answer {
			fmt.Fprintln(out, strings.TrimPrefix(rr.String(), rr.Header().String()))
		}
		return nil
	}
	if o.dnssec {
		fmt.Fprintln(out, verdictLine(r, a))
	}
	printDig(out, a, o, t)
	return nil
}

// timing is when a resolution started and how long it took.
type timing struct {
	start   time.Time
	elapsed time.Duration
}

// printDig prints a as dig prints a response: the header with its real
// flags (rd, as asked), the OPT pseudo-section with the Extended DNS
// Error of an answer that has one, the sections, and the footer with the
// message size.
func printDig(out io.Writer, a resolver.Answer, o resolveOptions, t timing) {
	m, size := digMessage(a, o)
	fmt.Fprint(out, digText(m))
	fmt.Fprintf(out, "\n;; Query time: %.0f msec\n;; SERVER: iterative resolution (recursor)\n;; WHEN: %s\n;; MSG SIZE  rcvd: %d\n",
		ms(t.elapsed), t.start.Format("Mon Jan 02 15:04:05 MST 2006"), size)
}

// ednsVersion is miekg/dns's wording of the EDNS version, which dig
// writes "version: 0, flags:".
var ednsVersion = regexp.MustCompile(`(?m)^; EDNS: version (\d+); flags:`)

// digText is m as dig prints it: miekg/dns's text with dig's header
// marker and EDNS line, and the question and records in dig's columns.
func digText(m *dns.Msg) string {
	s := strings.Replace(m.String(), ";; opcode:", ";; ->>HEADER<<- opcode:", 1)
	s = ednsVersion.ReplaceAllString(s, "; EDNS: version: $1, flags:")
	for _, q := range m.Question {
		line := digColumns([]string{";" + q.Name, dns.ClassToString[q.Qclass], typeName(q.Qtype)}, 32, 40)
		s = strings.Replace(s, q.String()+"\n", line+"\n", 1)
	}
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			if rr.Header().Rrtype == dns.TypeOPT {
				continue // the pseudo-section
			}
			text := rr.String()
			if f := strings.SplitN(text, "\t", 5); len(f) == 5 {
				s = strings.Replace(s, text+"\n", digColumns(f, 24, 32, 40, 48)+"\n", 1)
			}
		}
	}
	return s
}

// digColumns lays fields out as dig (BIND's text style) does: each field
// after the first starts at its column, reached with tabs (stops every 8),
// or after one space when the line is already past it.
func digColumns(fields []string, columns ...int) string {
	var b strings.Builder
	b.WriteString(fields[0])
	col := len(fields[0])
	for i, f := range fields[1:] {
		if i < len(columns) && col < columns[i] {
			for col < columns[i] {
				b.WriteByte('\t')
				col = (col/8 + 1) * 8
			}
		} else {
			b.WriteByte(' ')
			col++
		}
		b.WriteString(f)
		col += len(f)
	}
	return b.String()
}

// digMessage is a's message as a client of recursor serve would get it,
// with a fresh ID, the flags asked (rd, cd), an OPT record carrying the
// answer's Extended DNS Error, and its size on the wire.
func digMessage(a resolver.Answer, o resolveOptions) (*dns.Msg, int) {
	m := a.Msg.Copy()
	m.Id = dns.Id()
	m.RecursionDesired = true
	m.CheckingDisabled = o.cd
	opt := m.IsEdns0()
	if opt == nil {
		m.SetEdns0(resolver.EDNSBufferSize, o.dnssec)
		opt = m.IsEdns0()
	}
	if a.EDE != 0 {
		opt.Option = append(opt.Option, &dns.EDNS0_EDE{InfoCode: a.EDE, ExtraText: a.Why})
	}
	size := 0
	if wire, err := m.Pack(); err == nil {
		size = len(wire)
	}
	return m, size
}

// verdictLine is the verdict as delv prints it.
func verdictLine(r *resolver.Resolver, a resolver.Answer) string {
	switch {
	case !r.Validating():
		return "; validation is off"
	case a.Security == dnssec.Secure:
		return "; fully validated"
	case a.Security == dnssec.Bogus:
		return "; validation failed: " + a.Why + " (shown because of --cd)"
	case a.Security == dnssec.Insecure && a.Why != "":
		return "; unsigned answer (" + a.Why + ")"
	case a.Security == dnssec.Insecure:
		return "; unsigned answer"
	}
	return "; answer not validated: no trust anchor above the name"
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
