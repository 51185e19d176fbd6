package server

import "github.com/recursor-dns/recursor/resolver"

// notePolicy marks a query whose answer the engine's response policy made
// (resolver.Config.Policy, RPZ): such an answer is never kept by the
// answer cache (the policy may change under it), a DROP sends nothing, and
// a TCP-only answer over UDP goes out truncated.
func notePolicy(q *query, a resolver.Answer) {
	if a.Policy == "" {
		return
	}
	q.policy, q.policyDrop = true, a.Drop
	q.policyTC = a.Msg != nil && a.Msg.Truncated
}
