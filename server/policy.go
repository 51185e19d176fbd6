package server

import "github.com/recursor-dns/recursor/resolver"

// notePolicy marks a query whose answer the engine's response policy made
// (resolver.Config.Policy, RPZ): such an answer is never kept by the
// answer cache (the policy may change under it) and a TCP-only answer over
// UDP goes out truncated. (A DROP is Answer.Drop, noted by the caller.)
func notePolicy(q *query, a resolver.Answer) {
	if a.Policy == "" {
		return
	}
	q.policy = true
	q.policyTC = a.Msg != nil && a.Msg.Truncated
}
