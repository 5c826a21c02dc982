// Package canon writes the msgpack forms that signed objects use, each in
// its shortest form. A signature covers bytes, not values: an object that
// could be encoded two ways could be signed one way and checked another,
// so the parsers of node records, certificates and record proofs re-check
// that every field they read is in the form written here.
package canon

import (
	"encoding/binary"
	"math"
)

// AppendStr writes s as a fixstr or a str 8: every string these objects
// hold (ids, addresses, aliases) is at most 255 bytes.
func AppendStr(b []byte, s string) []byte {
	if len(s) < 32 {
		b = append(b, 0xa0|byte(len(s)))
	} else {
		b = append(b, 0xd9, byte(len(s)))
	}
	return append(b, s...)
}

// AppendBin writes v as bin 8, 16 or 32, the shortest that holds it.
func AppendBin(b, v []byte) []byte { return append(AppendBinHeader(b, len(v)), v...) }

// AppendBinHeader writes the header of a bin of n bytes.
func AppendBinHeader(b []byte, n int) []byte {
	switch {
	case n <= math.MaxUint8:
		return append(b, 0xc4, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xc5), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xc6), uint32(n))
}

// BinSize is the size of a bin of n bytes, header included.
func BinSize(n int) int {
	switch {
	case n <= math.MaxUint8:
		return 2 + n
	case n <= math.MaxUint16:
		return 3 + n
	}
	return 5 + n
}

// AppendArray writes the header of an array of n elements.
func AppendArray(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xdc), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
}

// ArraySize is the size of the header of an array of n elements.
func ArraySize(n int) int {
	switch {
	case n < 16:
		return 1
	case n <= math.MaxUint16:
		return 3
	}
	return 5
}

// AppendUint writes u as a positive fixint or a uint 8, 16, 32 or 64.
func AppendUint(b []byte, u uint64) []byte {
	switch {
	case u < 128:
		return append(b, byte(u))
	case u <= math.MaxUint8:
		return append(b, 0xcc, byte(u))
	case u <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(u))
	case u <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(u))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcf), u)
}

// UintSize is the size of AppendUint's form of u.
func UintSize(u uint64) int {
	switch {
	case u < 128:
		return 1
	case u <= math.MaxUint8:
		return 2
	case u <= math.MaxUint16:
		return 3
	case u <= math.MaxUint32:
		return 5
	}
	return 9
}
