package sync

// The codec (package sync/wire) imports this package, so this package's
// own tests cannot import it. wire_test.go, an external test, hands it in
// through UseCodec, and the tests here still pass every message they check
// against a budget through the real encoding, as a transport would.
var (
	encode func(Message) ([]byte, error)
	decode func([]byte) (Message, error)
)

// UseCodec sets the codec for this package's tests.
func UseCodec(enc func(Message) ([]byte, error), dec func([]byte) (Message, error)) {
	encode, decode = enc, dec
}

// The size arithmetic, for TestSizesMatchEncoding.
var (
	HeaderSize = headerSize
	RecordSize = recordSize
	EntrySize  = entrySize
)
