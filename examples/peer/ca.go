package main

import (
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/leviathan-gossip/leviathan/sync/identity"
)

// identityCommands manage node keys and a cluster CA's certificates: they
// work on files only and talk to no node.
var identityCommands = map[string]func(args []string, stdout, stderr io.Writer) int{
	"ca":  runCA,
	"key": runKey,
}

// identityUsage lists them, for the peer's own usage.
const identityUsage = `       peer ca init -out DIR
       peer ca sign -ca DIR/ca.key -id ID -pub NODE.pub [-days 365] -out ID.crt
       peer ca show -crt ID.crt [-ca DIR/ca.pub]
       peer key init -out node.key
       peer key pub -key node.key [-base64]
  ca init   a cluster CA: DIR/ca.key (mode 0600; keep it offline) and DIR/ca.pub
  ca sign   certify that node ID owns the public key in NODE.pub
  ca show   a certificate's fields; with -ca, check its signature
  key init  a node key (mode 0600); prints its public key, PEM
  key pub   a node key's public key, PEM or (-base64) one line for a config
`

// identityCmd is one run of a subcommand: its flags, declared on fs, and
// where its output goes.
type identityCmd struct {
	name   string // "peer ca sign", for messages
	fs     *flag.FlagSet
	stdout io.Writer
	stderr io.Writer
}

func runCA(args []string, stdout, stderr io.Writer) int {
	return dispatch("ca", args, stdout, stderr, map[string]func(*identityCmd, []string) int{
		"init": caInit, "sign": caSign, "show": caShow,
	})
}

func runKey(args []string, stdout, stderr io.Writer) int {
	return dispatch("key", args, stdout, stderr, map[string]func(*identityCmd, []string) int{
		"init": keyInit, "pub": keyPub,
	})
}

func dispatch(group string, args []string, stdout, stderr io.Writer, subs map[string]func(*identityCmd, []string) int) int {
	if len(args) == 0 || subs[args[0]] == nil {
		fmt.Fprintf(stderr, "peer %s: want a subcommand; usage:\n%s", group, identityUsage)
		return 2
	}
	name := "peer " + group + " " + args[0]
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return subs[args[0]](&identityCmd{name: name, fs: fs, stdout: stdout, stderr: stderr}, args[1:])
}

// parse parses args and checks that each flag named in required has a
// value. When it returns false the command is over, with exit status
// code: it has printed why.
func (c *identityCmd) parse(args []string, usage string, required ...string) (code int, ok bool) {
	c.fs.Usage = func() {
		fmt.Fprintf(c.stderr, "usage: %s %s\n", c.name, usage)
		c.fs.PrintDefaults()
	}
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if c.fs.NArg() > 0 {
		fmt.Fprintf(c.stderr, "%s: unexpected argument %q\n", c.name, c.fs.Arg(0))
		c.fs.Usage()
		return 2, false
	}
	for _, name := range required {
		if c.fs.Lookup(name).Value.String() == "" {
			fmt.Fprintf(c.stderr, "%s: -%s is required\n", c.name, name)
			c.fs.Usage()
			return 2, false
		}
	}
	return 0, true
}

func (c *identityCmd) fail(err error) int {
	fmt.Fprintf(c.stderr, "%s: %v\n", c.name, err)
	return 1
}

func caInit(c *identityCmd, args []string) int {
	dir := c.fs.String("out", "", "directory for ca.key and ca.pub (created, mode 0700)")
	if code, ok := c.parse(args, "-out DIR", "out"); !ok {
		return code
	}
	keyPath, pubPath := filepath.Join(*dir, "ca.key"), filepath.Join(*dir, "ca.pub")
	k, err := identity.Create(keyPath, nil)
	if err != nil {
		return c.fail(err)
	}
	pub, err := identity.MarshalPublicKeyPEM(k.Public())
	if err == nil {
		err = os.WriteFile(pubPath, pub, 0o644)
	}
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "wrote %s (keep it offline) and %s\nCA key id %s, public key %s\n",
		keyPath, pubPath, k.ID(), identity.FormatPublicKey(k.Public()))
	return 0
}

func caSign(c *identityCmd, args []string) int {
	caPath := c.fs.String("ca", "", "the CA's private key (ca init's ca.key)")
	id := c.fs.String("id", "", "the node id to certify (its config's id)")
	pubPath := c.fs.String("pub", "", "the node's public key: PEM (key init's output) or one base64 line")
	days := c.fs.Int("days", 365, "days the certificate is valid")
	out := c.fs.String("out", "", "certificate file to write (replaced if it exists)")
	if code, ok := c.parse(args, "-ca DIR/ca.key -id ID -pub NODE.pub [-days 365] -out ID.crt", "ca", "id", "pub", "out"); !ok {
		return code
	}
	if *days < 1 || *days > 100*365 {
		fmt.Fprintf(c.stderr, "%s: -days %d: want 1 to %d\n", c.name, *days, 100*365)
		return 2
	}
	ca, err := identity.Load(*caPath)
	if err != nil {
		return c.fail(err)
	}
	pub, err := identity.LoadPublicKey(*pubPath)
	if err != nil {
		return c.fail(err)
	}
	cert, err := identity.IssueCertificate(ca, *id, pub, time.Now().Add(time.Duration(*days)*24*time.Hour))
	if err != nil {
		return c.fail(err)
	}
	b, err := cert.Marshal()
	if err == nil {
		err = os.WriteFile(*out, identity.EncodeCertificatePEM(b), 0o644)
	}
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "wrote %s: %s\n", *out, describeCert(cert))
	return 0
}

func caShow(c *identityCmd, args []string) int {
	crtPath := c.fs.String("crt", "", "the certificate file")
	caPath := c.fs.String("ca", "", "the CA's public key (ca.pub): check the signature")
	if code, ok := c.parse(args, "-crt ID.crt [-ca DIR/ca.pub]", "crt"); !ok {
		return code
	}
	b, err := identity.LoadCertificate(*crtPath)
	if err != nil {
		return c.fail(err)
	}
	cert, err := identity.ParseCertificate(b)
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprintln(c.stdout, describeCert(cert))
	if time.Now().After(cert.NotAfter) {
		fmt.Fprintln(c.stdout, "expired")
	}
	if *caPath == "" {
		return 0
	}
	caPub, err := identity.LoadPublicKey(*caPath)
	if err == nil {
		err = cert.Verify(caPub)
	}
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprintln(c.stdout, "signature valid")
	return 0
}

func describeCert(cert *identity.Certificate) string {
	return fmt.Sprintf("id %q, key %s (%s), valid until %s, CA key id %s", cert.ID,
		identity.FormatPublicKey(cert.PublicKey), identity.IDOf(cert.PublicKey),
		cert.NotAfter.Format(time.RFC3339), cert.CA)
}

func keyInit(c *identityCmd, args []string) int {
	out := c.fs.String("out", "", "key file to create (mode 0600; never replaced)")
	if code, ok := c.parse(args, "-out node.key", "out"); !ok {
		return code
	}
	k, err := identity.Create(*out, nil)
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stderr, "wrote %s, key id %s\n", *out, k.ID())
	return c.printPublic(k.Public(), false)
}

func keyPub(c *identityCmd, args []string) int {
	path := c.fs.String("key", "", "the node's key file")
	line := c.fs.Bool("base64", false, "print one base64 line (a config's trusted_keys) instead of PEM")
	if code, ok := c.parse(args, "-key node.key [-base64]", "key"); !ok {
		return code
	}
	k, err := identity.Load(*path)
	if err != nil {
		return c.fail(err)
	}
	return c.printPublic(k.Public(), *line)
}

func (c *identityCmd) printPublic(pub ed25519.PublicKey, line bool) int {
	if line {
		fmt.Fprintln(c.stdout, identity.FormatPublicKey(pub))
		return 0
	}
	b, err := identity.MarshalPublicKeyPEM(pub)
	if err != nil {
		return c.fail(err)
	}
	_, _ = c.stdout.Write(b)
	return 0
}
