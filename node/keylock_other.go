//go:build !unix

package node

// keyFileLocking: lockKeyFile takes no lock here.
const keyFileLocking = false

// lockKeyFile takes no lock where the platform has no flock: a second
// start with the same key is not detected there.
func lockKeyFile(string) (unlock func(), err error) { return func() {}, nil }
