package identity

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// checkStep is one Check on a cache and what it must answer and count.
type checkStep struct {
	name     string
	id       string
	key      *Key
	cert     []byte
	now      time.Time
	want     error // nil: trusted
	hit      bool  // answered from the cache
	cacheLen int
}

func runCacheSteps(t *testing.T, c *TrustCache, steps []checkStep) {
	t.Helper()
	for _, s := range steps {
		hits, misses := c.Stats()
		err := c.Check(s.id, s.key.Public(), s.cert, s.now)
		checkTrustErr(t, err, s.want)
		h2, m2 := c.Stats()
		if gotHit := h2 == hits+1 && m2 == misses; gotHit != s.hit {
			t.Errorf("%s: hit %v, want %v (hits %d→%d, misses %d→%d)", s.name, gotHit, s.hit, hits, h2, misses, m2)
		}
		if got := c.Len(); got != s.cacheLen {
			t.Errorf("%s: %d pairs cached, want %d", s.name, got, s.cacheLen)
		}
	}
}

func TestTrustCacheCA(t *testing.T) {
	ca, rogue, n1, n2 := testKey(t, 1), testKey(t, 2), testKey(t, 10), testKey(t, 11)
	trust, err := NewCATrust(ca.Public())
	if err != nil {
		t.Fatal(err)
	}
	cert := testCert(t, ca, "n1", n1.Public(), epoch.Add(time.Hour))
	renewed := testCert(t, ca, "n1", n1.Public(), epoch.Add(48*time.Hour))
	forged := testCert(t, rogue, "n1", n1.Public(), epoch.Add(time.Hour))
	later := epoch.Add(2 * time.Hour)
	runCacheSteps(t, NewTrustCache(trust, 8), []checkStep{
		{"first check", "n1", n1, cert, epoch, nil, false, 1},
		{"same pair and certificate", "n1", n1, cert, epoch.Add(time.Minute), nil, true, 1},
		{"at the certificate's last second", "n1", n1, cert, epoch.Add(time.Hour), nil, true, 1},
		{"a forged certificate of the pair is checked, refused", "n1", n1, forged, epoch, ErrUnknownCA, false, 1},
		{"and leaves the acceptance alone", "n1", n1, cert, epoch, nil, true, 1},
		{"no certificate", "n1", n1, nil, epoch, ErrNoCertificate, false, 1},
		{"another id with the certificate", "n2", n1, cert, epoch, ErrWrongID, false, 1},
		{"another key with the certificate", "n1", n2, cert, epoch, ErrWrongKey, false, 1},
		{"expired: checked again, refused, dropped", "n1", n1, cert, later, ErrExpired, false, 0},
		{"expired again: still refused", "n1", n1, cert, later, ErrExpired, false, 0},
		{"renewed certificate", "n1", n1, renewed, later, nil, false, 1},
		{"renewed, cached", "n1", n1, renewed, later, nil, true, 1},
		{"the old certificate again: checked, refused", "n1", n1, cert, later, ErrExpired, false, 1},
		{"the renewed still cached", "n1", n1, renewed, later, nil, true, 1},
	})
}

func TestTrustCachePinned(t *testing.T) {
	n1, n2, other := testKey(t, 10), testKey(t, 11), testKey(t, 12)
	trust, err := NewPinnedTrust(map[string][]ed25519.PublicKey{"n1": {n1.Public()}, "n2": {n2.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	revoked := trust.WithRevoked(n2.Public())
	runCacheSteps(t, NewTrustCache(trust, 8), []checkStep{
		{"first check", "n1", n1, nil, epoch, nil, false, 1},
		{"any certificate: a pin ignores them", "n1", n1, []byte("junk"), epoch, nil, true, 1},
		{"no expiry", "n1", n1, nil, time.Unix(1<<40, 0), nil, true, 1},
		{"unpinned key", "n1", other, nil, epoch, ErrWrongKey, false, 1},
		{"unknown id", "n3", n1, nil, epoch, ErrUnknownID, false, 1},
		{"second id", "n2", n2, nil, epoch, nil, false, 2},
	})
	runCacheSteps(t, NewTrustCache(revoked, 8), []checkStep{
		{"revoked, never cached", "n2", n2, nil, epoch, ErrRevoked, false, 0},
		{"revoked, again", "n2", n2, nil, epoch, ErrRevoked, false, 0},
	})
}

// TestTrustCacheBound: however many pairs are trusted, the cache holds
// its bound, and drops the least recently used first.
func TestTrustCacheBound(t *testing.T) {
	ca := testKey(t, 1)
	trust, err := NewCATrust(ca.Public())
	if err != nil {
		t.Fatal(err)
	}
	const limit, ids = 4, 12
	keys := make([]*Key, ids)
	certs := make([][]byte, ids)
	for i := range keys {
		keys[i] = testKey(t, byte(20+i))
		certs[i] = testCert(t, ca, fmt.Sprintf("n%d", i), keys[i].Public(), epoch)
	}
	c := NewTrustCache(trust, limit)
	check := func(i int) {
		t.Helper()
		if err := c.Check(fmt.Sprintf("n%d", i), keys[i].Public(), certs[i], epoch); err != nil {
			t.Fatal(err)
		}
	}
	for i := range ids {
		check(i)
		check(0) // kept in use: never the one dropped
		if got, want := c.Len(), min(i+1, limit); got != want {
			t.Fatalf("after %d ids: %d cached, want %d", i+1, got, want)
		}
	}
	hits, misses := c.Stats()
	if misses != ids || hits != ids {
		t.Errorf("hits %d, misses %d; want %d each (id 0 always cached)", hits, misses, ids)
	}
	// The last limit-1 ids and id 0 are cached; an earlier one is not.
	for _, tt := range []struct {
		i   int
		hit bool
	}{{ids - 1, true}, {ids - limit + 1, true}, {0, true}, {ids - limit, false}, {1, false}} {
		h, _ := c.Stats()
		check(tt.i)
		if h2, _ := c.Stats(); (h2 == h+1) != tt.hit {
			t.Errorf("id %d: hit %v, want %v", tt.i, h2 == h+1, tt.hit)
		}
	}
	if c.Len() != limit {
		t.Errorf("%d cached, want %d", c.Len(), limit)
	}
	if d := NewTrustCache(trust, 0); d.limit != DefaultTrustCacheSize {
		t.Errorf("limit 0: %d, want the default %d", d.limit, DefaultTrustCacheSize)
	}
}

// TestTrustCacheBadInput: inputs no trust accepts are refused without
// entering the cache.
func TestTrustCacheBadInput(t *testing.T) {
	n1 := testKey(t, 10)
	trust, err := NewPinnedTrust(map[string][]ed25519.PublicKey{"n1": {n1.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	c := NewTrustCache(trust, 4)
	for _, pub := range []ed25519.PublicKey{nil, n1.Public()[:31], append(n1.Public(), 0)} {
		if err := c.Check("n1", pub, nil, epoch); !errors.Is(err, ErrBadKey) {
			t.Errorf("key of %d bytes: %v, want ErrBadKey", len(pub), err)
		}
	}
	if c.Len() != 0 {
		t.Errorf("%d cached", c.Len())
	}
}

// TestTrustCacheConcurrent: checks from several goroutines agree with the
// trust and stay within the bound (run with -race).
func TestTrustCacheConcurrent(t *testing.T) {
	keys := make([]*Key, 6)
	pins := make(map[string][]ed25519.PublicKey)
	for i := range keys {
		keys[i] = testKey(t, byte(30+i))
		pins[fmt.Sprintf("n%d", i)] = []ed25519.PublicKey{keys[i].Public()}
	}
	trust, err := NewPinnedTrust(pins)
	if err != nil {
		t.Fatal(err)
	}
	c := NewTrustCache(trust, 3)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				i := (g + j) % len(keys)
				if err := c.Check(fmt.Sprintf("n%d", i), keys[i].Public(), nil, epoch); err != nil {
					errs <- err
					return
				}
				if err := c.Check(fmt.Sprintf("n%d", i), keys[(i+1)%len(keys)].Public(), nil, epoch); err == nil {
					errs <- fmt.Errorf("n%d: another's key accepted", i)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if c.Len() > 3 {
		t.Errorf("%d cached, bound 3", c.Len())
	}
}
