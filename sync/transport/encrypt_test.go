package transport

import (
	"bytes"
	"errors"
	"fmt"
	gosync "sync"
	"testing"
	"time"
)

func testKey(n int, fill byte) []byte { return bytes.Repeat([]byte{fill}, n) }

func TestKeyringSizes(t *testing.T) {
	for _, n := range []int{0, 1, 15, 17, 23, 31, 33, 64} {
		if _, err := NewKeyring(testKey(n, 1)); !errors.Is(err, ErrKeySize) {
			t.Errorf("%d-byte key: got %v, want ErrKeySize", n, err)
		}
	}
	if _, err := NewKeyring(nil); !errors.Is(err, ErrNoKeys) {
		t.Errorf("nil primary: %v", err)
	}
	if _, err := NewKeyring(testKey(16, 1), testKey(7, 2)); !errors.Is(err, ErrKeySize) || !bytes.Contains([]byte(err.Error()), []byte("key 1")) {
		t.Errorf("bad second key: %v", err)
	}
	for _, n := range []int{16, 24, 32} {
		kr, err := NewKeyring(testKey(n, byte(n)))
		if err != nil {
			t.Fatal(err)
		}
		msg := []byte("hello " + fmt.Sprint(n))
		env := kr.Seal(msg, "127.0.0.1:1")
		if len(env) != len(msg)+SealOverhead {
			t.Fatalf("envelope %d bytes for %d, want overhead %d", len(env), len(msg), SealOverhead)
		}
		got, err := kr.Open(env, "127.0.0.1:1")
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("AES-%d round trip: %q, %v", n*8, got, err)
		}
		if bytes.Contains(env, msg) {
			t.Fatal("plaintext visible in envelope")
		}
	}
}

// TestKeyringRejects: every modification of an envelope, and every wrong
// key or sender, is refused.
func TestKeyringRejects(t *testing.T) {
	kr, _ := NewKeyring(testKey(32, 1))
	other, _ := NewKeyring(testKey(32, 2))
	env := kr.Seal([]byte("payload"), "a:1")
	for i := range env {
		bad := bytes.Clone(env)
		bad[i] ^= 0x40
		if _, err := kr.Open(bad, "a:1"); err == nil {
			t.Fatalf("byte %d flipped: accepted", i)
		}
	}
	tests := []struct {
		name string
		kr   *Keyring
		env  []byte
		from string
		want error
	}{
		{"empty", kr, nil, "a:1", ErrNotSealed},
		{"short", kr, env[:SealOverhead-1], "a:1", ErrNotSealed},
		{"truncated", kr, env[:len(env)-1], "a:1", ErrAuth},
		{"plaintext", kr, append([]byte{0x4c, 0x56, 1, 1}, make([]byte, 40)...), "a:1", ErrNotSealed},
		{"wrong key", other, env, "a:1", ErrAuth},
		{"wrong sender", kr, env, "b:1", ErrAuth},
		{"appended", kr, append(bytes.Clone(env), 0), "a:1", ErrAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.kr.Open(tt.env, tt.from); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// TestKeyringRotation walks a two-node cluster through install → use →
// remove, checking at every step that each node opens what the other seals.
func TestKeyringRotation(t *testing.T) {
	oldK, newK := testKey(16, 1), testKey(32, 2)
	a, _ := NewKeyring(oldK)
	b, _ := NewKeyring(oldK)
	talk := func(step string) {
		t.Helper()
		for _, p := range [][2]*Keyring{{a, b}, {b, a}} {
			env := p[0].Seal([]byte(step), "x:1")
			if got, err := p[1].Open(env, "x:1"); err != nil || string(got) != step {
				t.Fatalf("%s: %q, %v", step, got, err)
			}
		}
	}
	talk("start")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.Install(newK))
	talk("a installed")
	must(b.Install(newK))
	must(b.Install(newK)) // idempotent
	talk("both installed")
	must(a.Use(newK))
	talk("a uses new") // b opens with its second key
	must(b.Use(newK))
	talk("both use new")
	if err := a.Remove(newK); !errors.Is(err, ErrRemovePrimary) {
		t.Fatalf("removing the primary: %v", err)
	}
	must(a.Remove(oldK))
	talk("a removed old")
	must(b.Remove(oldK))
	talk("both removed old")
	if keys := a.Keys(); len(keys) != 1 || !bytes.Equal(keys[0], newK) || !bytes.Equal(a.Primary(), newK) {
		t.Fatalf("keys after rotation: %x", keys)
	}
	if err := a.Use(oldK); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("Use of a removed key: %v", err)
	}
	if err := a.Remove(oldK); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("Remove of a removed key: %v", err)
	}
	if err := a.Install(testKey(5, 1)); !errors.Is(err, ErrKeySize) {
		t.Fatalf("Install of a short key: %v", err)
	}
	// A message sealed with the removed key no longer opens.
	stale, _ := NewKeyring(oldK)
	if _, err := a.Open(stale.Seal([]byte("x"), "x:1"), "x:1"); !errors.Is(err, ErrAuth) {
		t.Fatalf("removed key still opens: %v", err)
	}
	// Keys hands out copies.
	a.Keys()[0][0] ^= 1
	if !bytes.Equal(a.Primary(), newK) {
		t.Fatal("Keys exposed the keyring's own slice")
	}
}

func TestNonceNeverRepeats(t *testing.T) {
	kr, _ := NewKeyring(testKey(16, 1))
	seen := make(map[string]bool)
	for i := 0; i < 10000; i++ {
		n := string(kr.Seal(nil, "")[1 : 1+nonceSize])
		if seen[n] {
			t.Fatalf("nonce repeated after %d messages", i)
		}
		seen[n] = true
	}
	// At the counter's end the prefix is redrawn rather than wrapping.
	var s sync96
	_ = s.init()
	s.ctr = 1<<32 - 1
	var last, wrapped [nonceSize]byte
	s.next(last[:])
	s.next(wrapped[:])
	if bytes.Equal(last[:noncePrefixSz], wrapped[:noncePrefixSz]) || s.ctr != 1 {
		t.Fatalf("counter wrapped without a new prefix: %x then %x", last, wrapped)
	}
	// Two keyrings (two nodes, or two boots) start from different prefixes.
	other, _ := NewKeyring(testKey(16, 1))
	if bytes.Equal(kr.nonces.prefix[:], other.nonces.prefix[:]) {
		t.Fatal("two keyrings drew the same nonce prefix")
	}
}

// TestKeyringConcurrentRotation seals, opens and rotates at once (run with
// -race).
func TestKeyringConcurrentRotation(t *testing.T) {
	k1, k2 := testKey(16, 1), testKey(16, 2)
	kr, _ := NewKeyring(k1, k2)
	var wg gosync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := kr.Open(kr.Seal([]byte("m"), "a:1"), "a:1"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := 0; i < 200; i++ {
		k := [][]byte{k1, k2}[i%2]
		if err := kr.Use(k); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

func recvWithin(t *testing.T, tr Transport, d time.Duration) (Packet, bool) {
	t.Helper()
	select {
	case p, ok := <-tr.Recv():
		return p, ok
	case <-time.After(d):
		return Packet{}, false
	}
}

func TestEncryptedTransport(t *testing.T) {
	net := NewMemNetwork(1)
	key := testKey(32, 9)
	mk := func(addr string, kr *Keyring) Transport {
		tr, err := net.Listen(addr, 600, 4096)
		if err != nil {
			t.Fatal(err)
		}
		if kr == nil {
			return tr
		}
		return Encrypt(tr, kr)
	}
	ka, _ := NewKeyring(key)
	kb, _ := NewKeyring(key)
	kx, _ := NewKeyring(testKey(32, 10))
	a := mk("a:1", ka).(*Encrypted)
	b := mk("b:1", kb).(*Encrypted)
	plain := mk("p:1", nil)
	wrong := mk("x:1", kx)
	defer func() {
		for _, tr := range []Transport{a, b, plain, wrong} {
			if err := tr.Close(); err != nil {
				t.Error(err)
			}
		}
	}()

	if a.PacketSize() != 600-SealOverhead || a.MaxMessageSize() != 4096-SealOverhead {
		t.Fatalf("sizes %d/%d do not leave room for the envelope", a.PacketSize(), a.MaxMessageSize())
	}
	// The largest message a core may produce fits; one byte more is refused.
	for _, n := range []int{1, a.PacketSize(), a.PacketSize() + 1, a.MaxMessageSize()} {
		msg := bytes.Repeat([]byte{byte(n)}, n)
		if err := a.Send("b:1", msg); err != nil {
			t.Fatalf("send %d bytes: %v", n, err)
		}
		p, ok := recvWithin(t, b, 5*time.Second)
		if !ok || p.From != "a:1" || !bytes.Equal(p.Data, msg) {
			t.Fatalf("%d bytes: got %d bytes from %q (%v)", n, len(p.Data), p.From, ok)
		}
	}
	if err := a.Send("b:1", make([]byte, a.MaxMessageSize()+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	if err := a.Send("b:1", nil); err == nil {
		t.Fatal("empty message accepted")
	}

	// Plaintext, a wrong key and garbage are dropped, counted and reported.
	var mu gosync.Mutex
	rejected := map[string]int{}
	b.OnReject(func(from string, err error) {
		mu.Lock()
		rejected[from+" "+err.Error()]++
		mu.Unlock()
	})
	if err := plain.Send("b:1", []byte{0x4c, 0x56, 1, 1, 0x94}); err != nil {
		t.Fatal(err)
	}
	if err := wrong.Send("b:1", []byte("from a stranger")); err != nil {
		t.Fatal(err)
	}
	forged := append([]byte{sealVersion}, make([]byte, 64)...)
	if err := plain.Send("b:1", forged); err != nil {
		t.Fatal(err)
	}
	// A valid envelope replayed from another address fails too.
	if err := plain.Send("b:1", ka.Seal([]byte("replayed"), "a:1")); err != nil {
		t.Fatal(err)
	}
	if p, ok := recvWithin(t, b, 100*time.Millisecond); ok {
		t.Fatalf("delivered a rejected message: %q from %s", p.Data, p.From)
	}
	mu.Lock()
	if rejected["p:1 "+ErrNotSealed.Error()] != 1 || rejected["x:1 "+ErrAuth.Error()] != 1 || rejected["p:1 "+ErrAuth.Error()] != 2 {
		t.Errorf("OnReject saw %v", rejected)
	}
	mu.Unlock()
	b.OnReject(nil)
	st := b.Stats()
	if st.NotSealed != 1 || st.AuthFailed != 3 || st.Rejected() != 4 || st.Opened != 4 {
		t.Fatalf("stats %+v", st)
	}
	if st := a.Stats(); st.Sealed != 4 {
		t.Fatalf("sender stats %+v", st)
	}
	if b.Keyring() != kb || b.Unwrap() == nil {
		t.Fatal("accessors")
	}
}

// FuzzOpen: no envelope may panic Open, and whatever Seal produces opens to
// the same bytes.
func FuzzOpen(f *testing.F) {
	kr, _ := NewKeyring(testKey(16, 7), testKey(32, 8))
	f.Add(kr.Seal([]byte("hello"), "127.0.0.1:7946"), "127.0.0.1:7946")
	f.Add([]byte{sealVersion}, "")
	f.Add(append([]byte{sealVersion}, make([]byte, SealOverhead)...), "a:1")
	f.Add([]byte{0x4c, 0x56, 1, 1, 0x94}, "a:1")
	f.Fuzz(func(t *testing.T, b []byte, from string) {
		if pt, err := kr.Open(b, from); err == nil {
			// Only a genuine envelope opens; it must re-seal and open again.
			again, err := kr.Open(kr.Seal(pt, from), from)
			if err != nil || !bytes.Equal(again, pt) {
				t.Fatalf("re-seal: %v", err)
			}
		}
		pt, err := kr.Open(kr.Seal(b, from), from)
		if err != nil || !bytes.Equal(pt, b) {
			t.Fatalf("round trip of %d bytes: %v", len(b), err)
		}
	})
}
