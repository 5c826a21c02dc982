package engine

import (
	"testing"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/identity"
)

// vote signs v, in the test cluster, with key (its voter's own unless
// given); a zero seq is 1.
func (s *signedSet) vote(t testing.TB, v lsync.Vote, key *identity.Key) lsync.Vote {
	t.Helper()
	if key == nil {
		key = s.keys[v.By]
	}
	if v.Seq == 0 {
		v.Seq = 1
	}
	c := identity.VoteClaim{Cluster: "test", ID: v.ID, Generation: v.Generation, Heartbeat: v.Heartbeat, Proof: v.Proof, By: v.By, Seq: v.Seq}
	v.Sig = identity.SignVote(key, &c)
	return v
}
