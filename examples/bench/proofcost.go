package main

import (
	"fmt"
	"syscall"
	"time"

	"github.com/leviathan-gossip/leviathan/sync/identity"
	"github.com/leviathan-gossip/leviathan/sync/proof"
)

// The signed scenario's CPU cost of record proofs, measured in this
// process on package proof alone: what an origin spends per record to
// seal a batch (leaf hashes, tree, one signature, the wire form) and what
// a receiver spends per record to check a whole batch from its wire form
// with no header verified before (parse, leaf hashes, root, signature).
// The batch sizes run from a lone durable Set to a full batch, which a
// SetMany of as many records fills.

// ProofCost is one batch size's cost per record.
type ProofCost struct {
	Scenario string  `json:"scenario"` // "signed-proof-cpu"; the table leaves it out
	Batch    int     `json:"batch"`
	SignUs   float64 `json:"sign_cpu_us_per_record"`
	VerifyUs float64 `json:"verify_cpu_us_per_record"`
	// WireBytes is the proof's size on the wire per record, sent whole.
	WireBytes float64 `json:"proof_wire_b_per_record"`
}

var proofBatches = []int{1, 16, 1024, proof.MaxLeaves}

// proofSpan is how long each size is timed for, at least.
const proofSpan = 300 * time.Millisecond

const proofOrigin = "n0000"

func proofCosts(valueSize int) ([]ProofCost, error) {
	k, err := identity.Generate(nil)
	if err != nil {
		return nil, fmt.Errorf("proof cost: %w", err)
	}
	var out []ProofCost
	for _, n := range proofBatches {
		c, err := proofCost(k, n, valueSize)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func proofCost(k *identity.Key, n, valueSize int) (ProofCost, error) {
	recs := proofRecords(n, valueSize)
	c := ProofCost{Scenario: "signed-proof-cpu", Batch: n}
	var wire []byte
	us, err := cpuPerRecord(n, func() error {
		p, _, err := proof.Seal(k, proofOrigin, 1, recs)
		if err == nil {
			wire, err = p.AppendWire(wire[:0])
		}
		return err
	})
	if err != nil {
		return c, fmt.Errorf("proof cost: seal %d: %w", n, err)
	}
	c.SignUs = us
	c.WireBytes = round3(float64(len(wire)) / float64(n))
	pub := k.Public()
	c.VerifyUs, err = cpuPerRecord(n, func() error {
		p, err := proof.Parse(wire, proofOrigin, 1)
		if err == nil {
			err = p.Verify(pub, proof.Leaves(proofOrigin, recs), nil)
		}
		return err
	})
	if err != nil {
		return c, fmt.Errorf("proof cost: verify %d: %w", n, err)
	}
	return c, nil
}

// proofRecords are n records of the bench's keys and values.
func proofRecords(n, valueSize int) []proof.Record {
	recs := make([]proof.Record, n)
	for i := range recs {
		v := make([]byte, valueSize)
		for j := range v {
			v[j] = byte(i + j)
		}
		recs[i] = proof.Record{Key: fmt.Sprintf("key-%d", i), Value: v, Version: uint64(i + 1)}
	}
	return recs
}

// cpuPerRecord runs op, which handles n records, for proofSpan at least,
// and returns the process's CPU time per record in microseconds: the
// garbage collector's share counts.
func cpuPerRecord(n int, op func() error) (float64, error) {
	cpu0, start := processCPU(), time.Now()
	iters := 0
	for ; iters == 0 || time.Since(start) < proofSpan; iters++ {
		if err := op(); err != nil {
			return 0, err
		}
	}
	return round3(float64((processCPU() - cpu0).Nanoseconds()) / 1e3 / float64(iters*n)), nil
}

// processCPU is the process's user and system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
