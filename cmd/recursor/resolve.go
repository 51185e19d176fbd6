package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
command line.`,
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
	cmd.Flags().BoolVar(&trace, "trace", false, "print every upstream exchange as it happens")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().BoolVar(&opts.dnssec, "dnssec", false, "show RRSIGs, denial proofs and the AD flag, and print the validation verdict as delv does")
	cmd.Flags().BoolVar(&opts.cd, "cd", false, "checking disabled: show data that fails validation instead of failing")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log debug lines to stderr")
	cmd.Flags().StringVarP(&reverse, "reverse", "x", "", "ask for the PTR record of this IPv4 or IPv6 address (as dig -x)")
	cmd.Flags().BoolVar(&opts.short, "short", false, "print the answer's data alone, one record a line (as dig +short)")
	return cmd
}

// jsonResult is the --json output.
type jsonResult struct {
	Question  string     `json:"question"`
	Status    string     `json:"status"`
	Flags     []string   `json:"flags,omitempty"`
	Answer    []string   `json:"answer"`
	Authority []string   `json:"authority"`
	QueryMS   float64    `json:"query_time_ms"`
	Error     string     `json:"error,omitempty"`
	Trace     []jsonStep `json:"trace,omitempty"`
	EDE       *jsonEDE   `json:"extended_error,omitempty"`
	// DNSSEC is the verdict: secure, insecure, indeterminate or bogus.
	DNSSEC string `json:"dnssec"`
	Why    string `json:"dnssec_reason,omitempty"`
	// Verifications counts the signature checks the query took.
	Verifications int `json:"verifications"`
}

// resolveOptions are the output switches of the resolve command.
type resolveOptions struct {
	trace, asJSON bool
	dnssec        bool // DO: show RRSIGs and proofs, and the verdict
	cd            bool // CD: show bogus data
	short         bool // the answer's RDATA alone
}

type jsonEDE struct {
	Code uint16 `json:"code"`
	Text string `json:"text"`
}

type jsonStep struct {
	Depth   int     `json:"depth"`
	Zone    string  `json:"zone"`
	NS      string  `json:"ns,omitempty"`
	Server  string  `json:"server"`
	Qname   string  `json:"qname"`
	Qtype   string  `json:"qtype"`
	RTTms   float64 `json:"rtt_ms"`
	TCP     bool    `json:"tcp,omitempty"`
	Outcome string  `json:"outcome"` // answered, timeout, refused, lame, ...
	Detail  string  `json:"detail"`  // what came back: "referral to com.", ...
	// A validation step instead of an exchange: the verdict on Qname/Qtype
	// by Zone's keys.
	DNSSEC string `json:"dnssec,omitempty"`
	KeyTag uint16 `json:"key_tag,omitempty"`
	EDE    uint16 `json:"ede,omitempty"`
}

func runResolve(ctx context.Context, out io.Writer, r *resolver.Resolver, name string, qtype uint16, o resolveOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	var (
		mu    sync.Mutex
		steps []jsonStep
	)
	if o.trace || o.asJSON {
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
	elapsed := time.Since(start)
	if o.asJSON {
		return printJSON(out, name, qtype, a, err, elapsed, steps)
	}
	if err != nil {
		return noAnswer{err}
	}
	if o.trace {
		fmt.Fprintln(out)
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
	printDig(out, a, o, elapsed, start)
	return nil
}

// printDig prints a as dig prints a response: the header with its real
// flags (rd, as asked), the OPT pseudo-section with the Extended DNS
// Error of an answer that has one, the sections, and the footer with the
// message size.
func printDig(out io.Writer, a resolver.Answer, o resolveOptions, elapsed time.Duration, start time.Time) {
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
	fmt.Fprint(out, strings.Replace(m.String(), ";; opcode:", ";; ->>HEADER<<- opcode:", 1))
	fmt.Fprintf(out, "\n;; Query time: %.0f msec\n;; SERVER: iterative resolution (recursor)\n;; WHEN: %s\n;; MSG SIZE  rcvd: %d\n",
		float64(elapsed.Microseconds())/1000, start.Format("Mon Jan 02 15:04:05 MST 2006"), size)
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

func stepOf(s resolver.Step) jsonStep {
	js := jsonStep{Depth: s.Depth, Zone: s.Zone, NS: s.NSName, Qname: s.Qname, Qtype: dns.TypeToString[s.Qtype]}
	if s.Check != nil {
		js.DNSSEC, js.KeyTag, js.EDE, js.Detail = s.Check.Status.String(), s.Check.KeyTag, s.Check.EDE, s.Check.Why
		return js
	}
	js.Server, js.RTTms, js.TCP, js.Outcome, js.Detail = s.Server.String(), ms(s.RTT), s.TCP, s.Outcome.String(), s.Detail
	return js
}

func printStep(out io.Writer, s resolver.Step, js jsonStep) {
	indent := strings.Repeat("  ", s.Depth)
	if c := s.Check; c != nil {
		what := c.Status.String()
		if c.KeyTag != 0 && c.Status == dnssec.Secure {
			what += fmt.Sprintf(" (key %d)", c.KeyTag)
		}
		if c.Why != "" {
			what += ": " + c.Why
		}
		fmt.Fprintf(out, ";; %s%-22s dnssec %s %s: %s\n", indent, s.Zone, s.Qname, js.Qtype, what)
		return
	}
	via := ""
	if s.TCP {
		via = ", tcp"
	}
	fmt.Fprintf(out, ";; %s%-22s %-26s %-20s %s %s -> %s (%.1f ms%s)\n", indent,
		s.Zone, "@"+s.NSName, s.Server, s.Qname, js.Qtype, s.Detail, js.RTTms, via)
}

func printJSON(out io.Writer, name string, qtype uint16, a resolver.Answer, err error, elapsed time.Duration, steps []jsonStep) error {
	res := jsonResult{Question: dns.Fqdn(name) + " IN " + dns.TypeToString[qtype], QueryMS: ms(elapsed), Trace: steps,
		Answer: []string{}, Authority: []string{}, DNSSEC: a.Security.String(), Why: a.Why, Verifications: a.Verifications}
	if err != nil {
		code, text := resolver.ExtendedError(err)
		res.Status, res.Error, res.EDE = "SERVFAIL", err.Error(), &jsonEDE{code, text}
		var ve *resolver.ValidationError
		if errors.As(err, &ve) {
			res.DNSSEC, res.Why, res.Verifications = dnssec.Bogus.String(), text, ve.Verifications
		}
	} else {
		res.Status = dns.RcodeToString[a.Msg.Rcode]
		res.Flags = []string{"qr", "ra"}
		if a.Msg.AuthenticatedData {
			res.Flags = append(res.Flags, "ad")
		}
		if a.EDE != 0 {
			res.EDE = &jsonEDE{a.EDE, a.Why} // an insecure answer's reason, or bogus data under --cd
		}
		for _, rr := range a.Msg.Answer {
			res.Answer = append(res.Answer, rr.String())
		}
		for _, rr := range a.Msg.Ns {
			res.Authority = append(res.Authority, rr.String())
		}
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	if encErr := enc.Encode(res); encErr != nil {
		return encErr
	}
	if err != nil {
		return silentExit{code: exitNoAnswer} // the JSON says why; the status says it failed
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
