package identity

import "testing"

// TestVoteSignature: a vote's signature verifies for its claim under its
// signer's key, and not after any field is changed, under another key, or
// as a signature of another domain; field boundaries are unambiguous.
func TestVoteSignature(t *testing.T) {
	k, other := testKey(t, 1), testKey(t, 2)
	claim := VoteClaim{Cluster: "c", ID: "p", Generation: 7, Heartbeat: 1<<32 + 5, Proof: [16]byte{1, 2}, By: "v", Seq: 99}
	sig := SignVote(k, &claim)
	if !VerifyVote(k.Public(), &claim, sig) {
		t.Fatal("a genuine vote does not verify")
	}
	if VerifyVote(other.Public(), &claim, sig) {
		t.Fatal("verifies under another key")
	}
	if Verify(k.Public(), DomainHeartbeat, claim.Marshal(), sig) {
		t.Fatal("verifies in another domain")
	}
	for name, change := range map[string]func(c *VoteClaim){
		"cluster":    func(c *VoteClaim) { c.Cluster = "d" },
		"id":         func(c *VoteClaim) { c.ID = "q" },
		"generation": func(c *VoteClaim) { c.Generation++ },
		"heartbeat":  func(c *VoteClaim) { c.Heartbeat++ },
		"proof":      func(c *VoteClaim) { c.Proof[15] = 1 },
		"by":         func(c *VoteClaim) { c.By = "p" },
		"seq":        func(c *VoteClaim) { c.Seq++ },
		"boundary":   func(c *VoteClaim) { c.Cluster, c.ID = "cp", "" },
	} {
		c := claim
		change(&c)
		if VerifyVote(k.Public(), &c, sig) {
			t.Errorf("a vote with its %s changed verifies", name)
		}
	}
	if VerifyVote(k.Public(), &claim, sig[:63]) || VerifyVote(k.Public(), &claim, nil) {
		t.Fatal("a short signature verifies")
	}
}

// BenchmarkVote measures a vote's signature: signing and verifying.
func BenchmarkVote(b *testing.B) {
	k := testKey(b, 1)
	claim := VoteClaim{Cluster: "cluster", ID: "node-0042", Generation: 1700000000000, Heartbeat: 5<<32 + 12345, Proof: [16]byte{9}, By: "node-0007", Seq: 1700000000999}
	sig := SignVote(k, &claim)
	b.Run("sign", func(b *testing.B) {
		for b.Loop() {
			SignVote(k, &claim)
		}
	})
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if !VerifyVote(k.Public(), &claim, sig) {
				b.Fatal("no")
			}
		}
	})
}
