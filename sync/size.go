package sync

// Exact msgpack sizes of what the codec (package sync/wire) writes, so that
// messages are filled up to a byte budget without encoding twice. The codec
// imports this package, so these cannot be derived from it;
// TestSizesMatchEncoding keeps them honest.

// headerSize is wire.HeaderSize.
const headerSize = 4

func sizeUint(v uint64) int {
	switch {
	case v < 128:
		return 1
	case v < 1<<8:
		return 2
	case v < 1<<16:
		return 3
	case v < 1<<32:
		return 5
	}
	return 9
}

// StrSize and BinSize are the msgpack sizes of a str and a bin of n
// bytes, for the sizes of messages built outside the core.
func StrSize(n int) int {
	if n < 32 {
		return 1 + n
	}
	return BinSize(n)
}

// BinSize: see StrSize.
func BinSize(n int) int {
	switch {
	case n < 1<<8:
		return 2 + n
	case n < 1<<16:
		return 3 + n
	}
	return 5 + n
}

func sizeBin(b []byte) int {
	if b == nil {
		return 1 // nil
	}
	return BinSize(len(b))
}

func sizeArr(n int) int {
	switch {
	case n < 16:
		return 1
	case n < 1<<16:
		return 3
	}
	return 5
}

func entrySize(e *DigestEntry) int {
	n := sizeArr(8) + StrSize(len(e.ID)) + StrSize(len(e.Alias)) + StrSize(len(e.Addr)) +
		sizeUint(e.Generation) + sizeUint(e.Heartbeat) + sizeUint(e.MaxVersion) + sizeUint(e.GCVersion) + 1
	switch {
	case !e.BeatProof.IsZero():
		n += sizeUint(e.RecordSeq) + 2 + len(e.BeatProof) // the ninth and tenth fields
	case e.RecordSeq != 0:
		n += sizeUint(e.RecordSeq) // a ninth field, written only when set
	}
	return n
}

func recordSize(r *Record) int {
	return sizeArr(4) + StrSize(len(r.Key)) + sizeBin(r.Value) + sizeUint(r.Version) + 1
}

// deltaHeadSize is a NodeDelta without its records, counting the records
// list header at its largest so that adding records never overflows.
func deltaHeadSize(nd *NodeDelta) int {
	return sizeArr(8) + StrSize(len(nd.ID)) + sizeUint(nd.Generation) + sizeUint(nd.From) + sizeUint(nd.To) +
		sizeUint(nd.GCVersion) + sizeUint(nd.Clean) + 1 + sizeArr(1<<16)
}

// Fixed parts of the messages, with list headers at their largest.
func synHeadSize(cluster, from string) int {
	return headerSize + sizeArr(5) + StrSize(len(cluster)) + StrSize(len(from)) + 1 + sizeArr(1<<16) + sizeUint(^uint64(0))
}

func synAckHeadSize(cluster, from string) int {
	return headerSize + sizeArr(5) + StrSize(len(cluster)) + StrSize(len(from)) + 2*sizeArr(1<<16) + 1
}

func ackHeadSize(cluster, from string) int {
	return headerSize + sizeArr(4) + StrSize(len(cluster)) + StrSize(len(from)) + sizeArr(1<<16) + 1
}

func pushHeadSize(cluster, from string) int {
	return headerSize + sizeArr(4) + StrSize(len(cluster)) + StrSize(len(from)) + sizeUint(255) + sizeArr(1<<16)
}
