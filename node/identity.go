package node

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/leviathan-gossip/leviathan/internal/engine"
	"github.com/leviathan-gossip/leviathan/sync/identity"
)

// Identity is the public side of a node's key pair (key_file): what it
// shows peers. The private key never leaves the node.
type Identity struct {
	// KeyID names the key in logs and status: the hex of the first 8
	// bytes of the SHA-256 of PublicKey.
	KeyID     string            `json:"key_id"`
	PublicKey ed25519.PublicKey `json:"public_key"`
	// CertificateExpiry is the last second the node's certificate
	// (cert_file) is valid; zero without one.
	CertificateExpiry time.Time `json:"certificate_expiry,omitzero"`
}

// Identity returns the node's key identity, or nil when no key_file is
// configured.
func (n *Node) Identity() *Identity {
	if n.ident == nil {
		return nil
	}
	return &Identity{
		KeyID:             n.ident.key.ID().String(),
		PublicKey:         slices.Clone(n.ident.key.Public()),
		CertificateExpiry: n.ident.certExpiry,
	}
}

// keyID is the key id for Status, or "" without a key.
func (n *Node) keyID() string {
	if n.ident == nil {
		return ""
	}
	return n.ident.key.ID().String()
}

// nodeIdentity is what the node holds of its identity config.
type nodeIdentity struct {
	key     *identity.Key
	created bool // the key file was created by this start
	// trust is what peers' keys are checked against, and cache answers
	// for it; both nil when neither trusted_ca nor trusted_keys is set.
	trust      *identity.Trust
	cache      *identity.TrustCache
	cert       []byte    // the encoded certificate this node presents, or nil
	certExpiry time.Time // its NotAfter
	// record is the node record this node signed at start, and
	// recordBytes its encoding: what it will present to peers.
	record      *identity.NodeRecord
	recordBytes []byte
	// follow is the full-length heartbeat chain to prepare when the
	// node's first chain is a short one, and next that chain once built,
	// until the engine asks for a chain (both under n.mu); long is set
	// while a full-length chain is being prepared, one at a time.
	follow *chainAsk
	next   *identity.BeatChain
	long   atomic.Bool
}

// chainAsk names a heartbeat chain to build: of generation, based at
// heartbeat base, from heartbeat at on.
type chainAsk struct{ generation, base, at uint64 }

// trustMode names the trust configured, for the log.
func (id *nodeIdentity) trustMode() string {
	switch {
	case id.trust == nil:
		return "none"
	case id.cert != nil:
		return "ca"
	}
	return "pinned"
}

// loadIdentity reads key_file (creating it on first start), cert_file and
// the trusted keys. It returns nil without key_file. Validate has checked
// the config, so an error here is a file that changed or cannot be
// written.
func (c Config) loadIdentity(maxPeers int) (*nodeIdentity, error) {
	if c.KeyFile == "" {
		return nil, nil
	}
	key, created, err := identity.LoadOrCreate(c.KeyFile, nil)
	if err != nil {
		return nil, fmt.Errorf("key_file: %w", err)
	}
	id := &nodeIdentity{key: key, created: created}
	if c.CertFile != "" {
		if id.cert, err = identity.LoadCertificate(c.CertFile); err != nil {
			return nil, fmt.Errorf("%w: cert_file: %w", ErrConfig, err)
		}
		cert, err := identity.ParseCertificate(id.cert)
		if err != nil {
			return nil, fmt.Errorf("%w: cert_file: %w", ErrConfig, err)
		}
		id.certExpiry = cert.NotAfter
	}
	keys, errs := c.decodeIdentityKeys()
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w:\n  %w", ErrConfig, joinLines(errs))
	}
	switch {
	case len(keys.cas) > 0:
		id.trust, err = identity.NewCATrust(keys.cas[0], keys.cas[1:]...)
	case len(keys.pins) > 0:
		id.trust, err = identity.NewPinnedTrust(keys.pins)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if id.trust != nil {
		id.trust = id.trust.WithRevoked(keys.revoked...)
		// One entry per trusted node at most: as many as it may know.
		id.cache = identity.NewTrustCache(id.trust, maxPeers)
	}
	return id, nil
}

// checkSelf refuses an identity that the node's own trust, which its
// peers share, would refuse: a certificate of another id or key, expired
// or of an unknown CA, or a key not pinned for the id or revoked.
func (id *nodeIdentity) checkSelf(nodeID string, now time.Time) error {
	if id.trust == nil {
		return nil
	}
	err := id.trust.Check(nodeID, id.key.Public(), id.cert, now)
	switch {
	case err == nil:
		return nil
	case id.cert != nil:
		return fmt.Errorf("%w: cert_file is not valid for this node (id %q, key %s): %w", ErrConfig, nodeID, id.key.ID(), err)
	case errors.Is(err, identity.ErrRevoked):
		return fmt.Errorf("%w: revoked_keys lists this node's own key %s: %w", ErrConfig, id.key.ID(), err)
	}
	return fmt.Errorf("%w: trusted_keys does not pin this node's key for its id %q (add %q): %w",
		ErrConfig, nodeID, identity.FormatPublicKey(id.key.Public()), err)
}

// signRecord signs the node's record of itself. Its seq is the clock in
// milliseconds (and above the last one's), so that it rises across
// restarts without being stored.
func (id *nodeIdentity) signRecord(nodeID, addr, alias string, generation uint64, now time.Time) error {
	seq := uint64(max(now.UnixMilli(), 1))
	if id.record != nil && seq <= id.record.Seq {
		seq = id.record.Seq + 1
	}
	rec, err := identity.SignNodeRecord(id.key, identity.NodeRecord{
		ID: nodeID, Addr: addr, Alias: alias, Generation: generation, Seq: seq, Certificate: id.cert,
	})
	if err != nil {
		return fmt.Errorf("node record: %w", err)
	}
	b, err := rec.Marshal()
	if err != nil {
		return fmt.Errorf("node record: %w", err)
	}
	if id.cache != nil {
		// What every peer will check: fails only on a bug, as checkSelf
		// passed.
		if err := rec.Verify(id.cache, now); err != nil {
			return fmt.Errorf("node record: %w", err)
		}
	}
	id.record, id.recordBytes = rec, b
	return nil
}

// beatChainLength is the length of the heartbeat chains a node proves
// its heartbeats with; tests, which start many signed nodes, make it
// shorter.
var beatChainLength uint64 = identity.DefaultBeatChainLength

// firstBeatChainLength is the length of the chain a node starts with,
// and of the one it takes when a short chain runs low before the
// full-length one is built: a third of a millisecond of hashing, so
// that a signed node starts about as fast as an unsigned one, and 41
// seconds of heartbeats at the fastest heartbeat_val (10 ms), hundreds
// of times what building the full-length chain takes.
var firstBeatChainLength uint64 = 1 << 12

// shortChain is the length of a short chain: firstBeatChainLength, or
// beatChainLength when that is shorter.
func shortChain() uint64 { return min(firstBeatChainLength, beatChainLength) }

// signing is the engine's signing config: set with signed = true
// (Validate has checked that key_file and a trust are set with it). It
// sets up a short heartbeat chain of node id's generation, based at its
// first heartbeat of this boot (boot<<32), before the engine exists; the
// full-length chain that takes over when it runs low is built in the
// background (followChain).
func (n *Node) signing(id string, generation, boot uint64) (*engine.Signing, error) {
	if !n.cfg.Signed || n.ident == nil || n.ident.cache == nil {
		return nil, nil
	}
	chain, err := identity.NewBeatChain(n.ident.key, id, generation, boot<<32, shortChain())
	if err != nil {
		return nil, fmt.Errorf("node: heartbeat chain: %w", err)
	}
	if shortChain() < beatChainLength {
		n.ident.follow = &chainAsk{generation: generation, base: askedAt(boot<<32, shortChain()), at: boot<<32 + shortChain()/4}
	}
	return &engine.Signing{Key: n.ident.key, Certificate: n.ident.cert, Trust: n.ident.cache, Chain: chain}, nil
}

// askedAt is the heartbeat at which the engine asks for the successor
// of a chain from base of length (ChainDue: an eighth of it left). A
// chain prepared for that ask is based there, as one set up then would
// be: peers that hold only its record tell the heartbeats its
// predecessor proves in the renewal's grace by that base.
func askedAt(base, length uint64) uint64 { return base + length - length/8 }

// preparedLag is how far past its base a prepared chain is still taken:
// one prepared for an earlier ask (its short chain's successor was late)
// is based too far below the heartbeat, and is set up anew.
const preparedLag = 256

// followChain starts preparing the full-length chain that takes over
// from the short one the node started with (signing) once a quarter of
// the short one is spent: not at start, where its hashing would slow the
// node's join and its peers', and far ahead of the engine's ask, which
// comes when an eighth is left. Under n.mu, at each beat.
func (n *Node) followChain(hb uint64) {
	if n.ident == nil || n.ident.follow == nil || hb < n.ident.follow.at {
		return
	}
	f := *n.ident.follow
	n.ident.follow = nil
	n.prepareChain(f.generation, f.base)
}

// prepareChain builds a full-length chain in a goroutine and keeps it
// (ident.next) for the engine's next ask, unless one is being built. It
// is not given to the engine at once: that would sign the node's record
// again while its first one still spreads, and a peer that took only
// the new one would refuse the heartbeats proven by the short chain
// still in flight. When the short chain runs low, every peer holds the
// record that commits to it, and the renewal is the engine's usual one.
func (n *Node) prepareChain(generation, base uint64) {
	if !n.ident.long.CompareAndSwap(false, true) {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer n.ident.long.Store(false)
		select {
		case <-n.stop:
			return
		default:
		}
		start := time.Now()
		chain, err := identity.NewBeatChain(n.ident.key, n.id, generation, base, beatChainLength)
		if err != nil {
			n.log.Warn().Err(err).Uint64("generation", generation).Msg("full-length heartbeat chain not built; the node goes on with short ones")
			return
		}
		n.mu.Lock()
		n.ident.next = chain
		n.mu.Unlock()
		n.log.Info().Uint64("generation", generation).Uint64("base", base).Uint64("length", beatChainLength).
			Dur("took", time.Since(start)).Msg("full-length heartbeat chain ready")
	}()
}

// renewChain gives the engine the heartbeat chain it asked for (ChainDue:
// a new generation, or the chain's end near): the full-length chain
// prepared, if it fits, at once; else one built in a goroutine, outside
// n.mu. A full-length chain running low is followed by another. A short
// one whose full-length successor is not ready is followed at once by a
// short one (milliseconds: the node's heartbeats stay proven), and a
// full-length one is prepared for the next ask.
func (n *Node) renewChain(generation, base, length uint64) {
	if n.takeNext(generation) {
		return
	}
	if length == 0 {
		length = beatChainLength
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.buildChain(generation, base, length)
		if length < beatChainLength {
			n.prepareChain(generation, askedAt(base, length))
		}
	}()
}

// takeNext gives the engine the full-length chain prepared, if it is of
// generation and covers the node's heartbeat. It reports whether the
// engine took it.
func (n *Node) takeNext(generation uint64) bool {
	n.mu.Lock()
	next := n.ident.next
	n.ident.next = nil
	if next == nil || n.closed {
		n.mu.Unlock()
		return false
	}
	com, hb := next.Commitment(), n.eng.State().Heartbeat()
	if com.Generation != generation || !com.Covers(hb) || hb-com.Base > preparedLag {
		n.mu.Unlock()
		return false // outgrown: the engine's ask is built anew
	}
	err := n.eng.SetBeatChain(next, n.clock.Now())
	n.mu.Unlock()
	if err != nil {
		n.log.Warn().Err(err).Uint64("generation", generation).Msg("prepared heartbeat chain not taken; the engine asks again")
		return true
	}
	n.chainTaken(com, 0)
	return true
}

// buildChain builds a heartbeat chain outside n.mu and gives it to the
// engine, which signs the node's record again to commit to it. A chain
// the node outgrew meanwhile (its generation changed again) is refused.
func (n *Node) buildChain(generation, base, length uint64) {
	select {
	case <-n.stop:
		return
	default:
	}
	start := time.Now()
	chain, err := identity.NewBeatChain(n.ident.key, n.id, generation, base, length)
	took := time.Since(start)
	n.mu.Lock()
	closed := n.closed
	if err == nil && !closed {
		err = n.eng.SetBeatChain(chain, n.clock.Now())
	}
	n.mu.Unlock()
	switch {
	case closed:
	case err != nil:
		n.log.Warn().Err(err).Uint64("generation", generation).Uint64("base", base).Uint64("length", length).
			Msg("heartbeat chain not taken; asked again at the next beat")
	default:
		n.chainTaken(chain.Commitment(), took)
	}
}

// chainTaken logs a chain the engine took, and makes the record proofs
// and the identity state follow its generation: a chain is asked for at
// each new generation, and peers refill the node at it, and a wiped data
// directory comes back at it. took is how long building it held up the
// renewal (0: prepared before).
func (n *Node) chainTaken(com identity.BeatCommitment, took time.Duration) {
	n.log.Info().Uint64("generation", com.Generation).Uint64("base", com.Base).Uint64("length", com.Length).Dur("took", took).
		Msg("new heartbeat chain, node record signed again")
	if n.signer != nil {
		n.signer.kick()
	}
	if err := n.keeper.saveGeneration(com.Generation); err != nil {
		n.log.Warn().Err(err).Uint64("generation", com.Generation).Msg("identity state not updated to the new generation: if data_dir is wiped, peers drop this node's data")
	}
}

// logRejected logs the node records and claims the engine refused (the
// engine counts them), at most once a minute per sender.
func (n *Node) logRejected(rs []engine.Rejected, now time.Time) {
	for _, r := range rs {
		ok, suppressed := n.rejectLog.allow(r.From, now)
		if !ok {
			continue
		}
		ev := n.log.Warn().Str("from", r.From).Str("node", r.ID).Str("reason", string(r.Reason)).Uint64("suppressed", suppressed)
		if r.Err != nil {
			ev = ev.Err(r.Err)
		}
		ev.Msg("node record or claim refused: not signed or proven by its node (logged at most once a minute per sender)")
	}
}

// setupIdentity checks the identity against the node's id and signs its
// record, once the id, address and generation are known (after load).
// With signed = true the engine signs it, and signs it again as the node
// changes (a new generation, its leave).
func (n *Node) setupIdentity() error {
	if n.ident == nil {
		return nil
	}
	now := n.clock.Now()
	if err := n.ident.checkSelf(n.id, now); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	self := n.eng.Self()
	if err := n.ident.signRecord(self.ID, self.Addr, self.Alias, self.Generation, now); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if n.cfg.Signed {
		// The same record, signed by the engine, which sends it.
		rec, err := n.eng.SignRecord(now)
		if err != nil {
			return fmt.Errorf("node: node record: %w", err)
		}
		n.ident.record, n.ident.recordBytes = rec, n.eng.OwnRecord()
	}
	ev := n.log.Info().Str("key_id", n.ident.key.ID().String()).Str("key_file", n.cfg.KeyFile).
		Bool("created", n.ident.created).Str("trust", n.ident.trustMode()).Bool("signed", n.cfg.Signed)
	if n.ident.cert != nil {
		ev = ev.Time("cert_not_after", n.ident.certExpiry)
	}
	ev.Msg("node identity")
	return nil
}
