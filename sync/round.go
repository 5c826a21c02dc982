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
	pickLive(live, fanout, rng, func() int { return len(out) }, pick)
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

// pickLive offers live members to pick in random order until picked
// reports want picks or every member was offered. A few members are
// shuffled; among many, distinct ones are drawn at random as needed: a
// permutation of thousands of members each round was most of a round.
func pickLive(live []string, want int, rng *rand.Rand, picked func() int, pick func(string)) {
	n := len(live)
	if n <= 4*want+8 {
		for _, i := range rng.Perm(n) {
			if picked() >= want {
				return
			}
			pick(live[i])
		}
		return
	}
	offered := make(map[int]bool, 2*want)
	for picked() < want && len(offered) < n {
		if i := rng.Intn(n); !offered[i] {
			offered[i] = true
			pick(live[i])
		}
	}
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
