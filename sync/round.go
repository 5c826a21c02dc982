package sync

import "math/rand"

// Targets chooses whom to gossip with this round, from addresses:
//   - up to fanout random live peers;
//   - with probability unreachable/(live+1), one peer that is not live
//     (joining, suspended or dead), so that a recovered peer is noticed and
//     a partition heals without seeds;
//   - a seed, unless one was already chosen and live peers are at least as
//     many as seeds — seeds are tried even while other peers are live, or a
//     cluster that starts as two cliques stays split.
//
// self is never chosen, and no address twice.
func Targets(live, unreachable, seeds []string, self string, fanout int, rng *rand.Rand) []string {
	chosen := make(map[string]bool)
	var out []string
	pick := func(addr string) {
		if addr != "" && addr != self && !chosen[addr] {
			chosen[addr] = true
			out = append(out, addr)
		}
	}
	for _, i := range rng.Perm(len(live)) {
		if len(out) >= fanout {
			break
		}
		pick(live[i])
	}
	if n := len(unreachable); n > 0 && rng.Float64() < float64(n)/float64(len(live)+1) {
		pick(unreachable[rng.Intn(n)])
	}
	isSeed := make(map[string]bool, len(seeds))
	for _, s := range seeds {
		isSeed[s] = true
	}
	seedChosen := false
	for _, a := range out {
		seedChosen = seedChosen || isSeed[a]
	}
	if len(seeds) > 0 && (!seedChosen || len(live) < len(seeds)) {
		var others []string
		for _, s := range seeds {
			if s != self && !chosen[s] {
				others = append(others, s)
			}
		}
		if len(others) > 0 {
			pick(others[rng.Intn(len(others))])
		}
	}
	return out
}
