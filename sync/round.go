package sync

import "math/rand"

// Targets chooses whom to gossip with this round, from addresses:
//   - up to fanout random live peers;
//   - with probability unreachable/(live+1), one peer that is not live
//     (joining, suspended or dead), so that a recovered peer is noticed and
//     a partition heals without seeds;
//   - a seed, always while live peers are fewer than seeds (start-up, a
//     small or split cluster), otherwise, if none was chosen yet, with
//     probability seeds/(live+unreachable), as Cassandra does.
//
// Seeds are tried even while other peers are live, or a cluster that starts
// as two cliques stays split; the probability keeps them from becoming hot
// spots: at 1000 nodes and 3 seeds each seed takes about one extra Syn a
// second instead of one from every node every round.
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
	if seedDue(live, unreachable, seeds, chosen, rng) {
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

// seedDue reports whether this round adds a seed to the targets.
func seedDue(live, unreachable, seeds []string, chosen map[string]bool, rng *rand.Rand) bool {
	if len(seeds) == 0 {
		return false
	}
	seedChosen := false
	for _, s := range seeds {
		seedChosen = seedChosen || chosen[s]
	}
	switch {
	case len(live) < len(seeds):
		return true
	case seedChosen:
		return false
	}
	p := float64(len(seeds)) / float64(len(live)+len(unreachable))
	return rng.Float64() < p
}
