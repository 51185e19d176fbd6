package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"

	"github.com/recursor-dns/recursor/resolver"
)

func newResolveCommand() *cobra.Command {
	var (
		ef      engineFlags
		trace   bool
		asJSON  bool
		verbose bool
	)
	cmd := &cobra.Command{
		Use:   "resolve NAME [TYPE]",
		Short: "Resolve one question by iteration from the root and print the answer",
		Example: `  recursor resolve --sandbox www.shop.example.com A --trace
  recursor resolve --root-hints ./named.root example.org MX`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			qtype := dns.TypeA
			if len(args) == 2 {
				t, ok := dns.StringToType[strings.ToUpper(args[1])]
				if !ok {
					return fmt.Errorf("unknown query type %q", args[1])
				}
				qtype = t
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
			return runResolve(cmd.Context(), cmd.OutOrStdout(), e.resolver, args[0], qtype, trace, asJSON)
		},
	}
	ef.register(cmd.Flags())
	cmd.Flags().BoolVar(&trace, "trace", false, "print every upstream exchange as it happens")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log debug lines to stderr")
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
}

func runResolve(ctx context.Context, out io.Writer, r *resolver.Resolver, name string, qtype uint16, trace, asJSON bool) error {
	if ctx == nil {
		ctx = context.Background()
	}
	var (
		mu    sync.Mutex
		steps []jsonStep
	)
	if trace || asJSON {
		ctx = resolver.WithTrace(ctx, func(s resolver.Step) {
			mu.Lock()
			defer mu.Unlock()
			js := jsonStep{Depth: s.Depth, Zone: s.Zone, NS: s.NSName, Server: s.Server.String(), Qname: s.Qname,
				Qtype: dns.TypeToString[s.Qtype], RTTms: ms(s.RTT), TCP: s.TCP,
				Outcome: s.Outcome.String(), Detail: s.Detail}
			if asJSON {
				steps = append(steps, js)
				return
			}
			via := ""
			if s.TCP {
				via = ", tcp"
			}
			fmt.Fprintf(out, ";; %s%-22s %-26s %-20s %s %s -> %s (%.1f ms%s)\n", strings.Repeat("  ", s.Depth),
				s.Zone, "@"+s.NSName, s.Server, s.Qname, js.Qtype, s.Detail, js.RTTms, via)
		})
	}
	start := time.Now()
	msg, err := r.Resolve(ctx, dns.Fqdn(name), qtype)
	elapsed := time.Since(start)
	if asJSON {
		res := jsonResult{Question: dns.Fqdn(name) + " IN " + dns.TypeToString[qtype], QueryMS: ms(elapsed), Trace: steps,
			Answer: []string{}, Authority: []string{}}
		if err != nil {
			code, text := resolver.ExtendedError(err)
			res.Status, res.Error, res.EDE = "SERVFAIL", err.Error(), &jsonEDE{code, text}
		} else {
			res.Status = dns.RcodeToString[msg.Rcode]
			res.Flags = []string{"qr", "ra"}
			for _, rr := range msg.Answer {
				res.Answer = append(res.Answer, rr.String())
			}
			for _, rr := range msg.Ns {
				res.Authority = append(res.Authority, rr.String())
			}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if encErr := enc.Encode(res); encErr != nil {
			return encErr
		}
		if err != nil {
			return silentExit{code: 2} // the JSON says why; the status says it failed
		}
		return nil
	}
	if err != nil {
		return err
	}
	if trace {
		fmt.Fprintln(out)
	}
	fmt.Fprint(out, msg.String())
	fmt.Fprintf(out, "\n;; Query time: %.1f msec\n;; SERVER: iterative resolution (recursor)\n;; WHEN: %s\n", ms(elapsed), start.Format(time.RFC1123Z))
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
