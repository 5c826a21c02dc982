package store

import "errors"

var (
	// ErrIDMismatch is returned by Boot when the data directory belongs to
	// another node: serving its records under our id would corrupt the
	// cluster, so the operator has to pick the right directory.
	ErrIDMismatch = errors.New("store: node id mismatch")
	// ErrClosed is returned by every call made after Close.
	ErrClosed = errors.New("store: closed")
	// ErrCorrupt is wrapped by every decode failure, so callers can tell a
	// damaged store from an I/O error.
	ErrCorrupt = errors.New("store: corrupt data")
)
