package engine

import (
	"testing"
	"time"

	lsync "github.com/leviathan-gossip/leviathan/sync"
	"github.com/leviathan-gossip/leviathan/sync/identity"
)

// BenchmarkStepBeat is the CPU a monitor spends on one beat of a peer,
// each a heartbeat above the last: with signing, its proof verified
// against the peer's chain (one hash, from the last one verified), and
// without. The owner's proof (about one hash while heartbeats rise) is in
// the loop too.
func BenchmarkStepBeat(b *testing.B) {
	for _, signed := range []bool{false, true} {
		name := "unsigned"
		if signed {
			name = "signed"
		}
		b.Run(name, func(b *testing.B) {
			var a, p *Engine
			if signed {
				s := newSignedSet(b, "a", "p")
				a = s.engine(b, "a", t0)
				p = newEngineWith(b, "p", func(c *Config) {
					chain, err := identity.NewBeatChain(s.keys["p"], "p", 1, 1<<32, identity.DefaultBeatChainLength)
					if err != nil {
						b.Fatal(err)
					}
					c.Signing = &Signing{Key: s.keys["p"], Trust: s.trust, Chain: chain}
				})
				if _, err := p.SignRecord(t0); err != nil {
					b.Fatal(err)
				}
			} else {
				a, p = newEngine(b, "a"), newEngine(b, "p")
			}
			rd := a.Step(t0, "p:1", p.helloMsg())
			a.Commit(&rd)
			if _, ok := a.State().Peer("p"); !ok {
				b.Fatal("p not known")
			}
			if b.N >= identity.DefaultBeatChainLength {
				b.Skip("more beats than a chain holds")
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				hb := p.State().Beat()
				beat := &lsync.Beat{Cluster: "test", From: "p", Generation: 1, Heartbeat: hb}
				if signed {
					beat.Proof = p.proveOwn(hb)
				}
				rd := a.Step(t0.Add(time.Duration(i)*time.Millisecond), "p:1", beat)
				if rd.Batch != nil {
					a.Commit(&rd)
				}
			}
			b.StopTimer()
			if got, _, _, _ := a.State().HeldBeat("p"); got == 0 {
				b.Fatal("p lost")
			}
			if _, hb, _, _ := a.State().HeldBeat("p"); hb != p.State().Heartbeat() {
				b.Fatalf("held %d, p at %d", hb, p.State().Heartbeat())
			}
		})
	}
}
