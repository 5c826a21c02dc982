package engine

import "slices"

// RemoveSeeds drops seed addresses, for a seed name whose DNS answer no
// longer lists them. Only the seed list changes: a member at one of these
// addresses stays a member, and leaves only through failure detection.
func (e *Engine) RemoveSeeds(addrs ...string) {
	for _, a := range addrs {
		if i := slices.Index(e.seeds, a); i >= 0 {
			e.seeds = slices.Delete(e.seeds, i, i+1)
			delete(e.seedSilence, a)
		}
	}
}
