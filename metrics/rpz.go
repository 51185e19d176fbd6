package metrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/recursor-dns/recursor/resolver"
)

// PolicyHits returns the counter of response policy (RPZ) hits,
// recursor_rpz_hits_total{policy, action}, as rpz.Config.Hit takes it.
// It is registered on the first call; later calls (an engine rebuilt by
// a reload) count on the same one.
func (r *Registry) PolicyHits() func(policy string, kind resolver.PolicyKind) {
	hits := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "rpz_hits_total",
		Help: "Answers a response policy zone rewrote, by policy (the zone's name) and action.",
	}, []string{"policy", "action"})
	if err := r.reg.Register(hits); err != nil {
		var dup prometheus.AlreadyRegisteredError
		if !errors.As(err, &dup) {
			panic(err) // a name clash within our own metrics: a bug
		}
		hits = dup.ExistingCollector.(*prometheus.CounterVec)
	}
	return func(policy string, kind resolver.PolicyKind) {
		hits.WithLabelValues(policy, kind.String()).Inc()
	}
}
