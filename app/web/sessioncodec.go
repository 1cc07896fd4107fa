package web

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/alexedwards/scs/v2"
)

// SessionCodec encodes session data (its deadline and values) for the
// session store. Latchkey keeps strings, int64s and bools in sessions; those
// are written in a small binary form that decodes in a few hundred
// nanoseconds. encoding/gob, scs's default, sends its type descriptions with
// every session and decoding them cost a tenth of a grid page's CPU. Data in
// gob form (sessions written before this codec, or a value of another type)
// still decodes: the binary form starts with a marker gob data cannot start
// with in practice, and anything else goes to gob.
//
// Binary form: "LKS\x01", the deadline (unix nanoseconds, varint), the
// number of values (uvarint), then per value its key (uvarint length and
// bytes), a type byte ('s' string, 'i' int64, 't' true, 'f' false) and for
// 's' the length and bytes, for 'i' a varint.
type SessionCodec struct{}

var sessionCodecMarker = []byte("LKS\x01")

// Encode implements scs.Codec.
func (SessionCodec) Encode(deadline time.Time, values map[string]any) ([]byte, error) {
	b := make([]byte, 0, 128)
	b = append(b, sessionCodecMarker...)
	b = binary.AppendVarint(b, deadline.UnixNano())
	b = binary.AppendUvarint(b, uint64(len(values)))
	for k, v := range values {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		switch v := v.(type) {
		case string:
			b = append(b, 's')
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		case int64:
			b = append(b, 'i')
			b = binary.AppendVarint(b, v)
		case bool:
			if v {
				b = append(b, 't')
			} else {
				b = append(b, 'f')
			}
		default:
			// A type this form does not know: the whole session as gob.
			return scs.GobCodec{}.Encode(deadline, values)
		}
	}
	return b, nil
}

// Decode implements scs.Codec.
func (SessionCodec) Decode(b []byte) (time.Time, map[string]any, error) {
	if !bytes.HasPrefix(b, sessionCodecMarker) {
		return scs.GobCodec{}.Decode(b)
	}
	r := sessionReader{b: b[len(sessionCodecMarker):]}
	deadline := time.Unix(0, r.varint())
	n := r.uvarint()
	if n > uint64(len(r.b)) { // each value takes at least two bytes
		r.fail()
		n = 0
	}
	values := make(map[string]any, n)
	for i := uint64(0); i < n && r.err == nil; i++ {
		k := string(r.bytes(r.uvarint()))
		switch r.byte() {
		case 's':
			values[k] = string(r.bytes(r.uvarint()))
		case 'i':
			values[k] = r.varint()
		case 't':
			values[k] = true
		case 'f':
			values[k] = false
		default:
			r.fail()
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail()
	}
	if r.err != nil {
		return time.Time{}, nil, fmt.Errorf("session codec: %w", r.err)
	}
	return deadline, values, nil
}

var errSessionData = errors.New("malformed session data")

// sessionReader reads the binary form, remembering the first error.
type sessionReader struct {
	b   []byte
	err error
}

func (r *sessionReader) fail() {
	if r.err == nil {
		r.err = errSessionData
	}
	r.b = nil
}

func (r *sessionReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *sessionReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *sessionReader) byte() byte {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *sessionReader) bytes(n uint64) []byte {
	if n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}
