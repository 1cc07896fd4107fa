package web

import (
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/stretchr/testify/require"
)

func TestSessionCodecRoundTripsAndReadsGob(t *testing.T) {
	deadline := time.Date(2026, 11, 21, 23, 59, 58, 123456789, time.UTC)
	values := map[string]any{
		sessLoginID: "3z3m46ogv6afcflwhfh3rf42lq", sessAuthAt: int64(1795000000123456789), sessSeenAt: int64(-5),
		sessCSRF: "", "flash": "Saved — ✓", "__rememberMe": true, "off": false,
	}
	c := SessionCodec{}
	b, err := c.Encode(deadline, values)
	require.NoError(t, err)
	require.Equal(t, sessionCodecMarker, b[:len(sessionCodecMarker)])
	gotDeadline, got, err := c.Decode(b)
	require.NoError(t, err)
	require.True(t, deadline.Equal(gotDeadline))
	require.Equal(t, values, got)

	// Sessions written by scs's gob codec (before this one) still decode.
	old, err := scs.GobCodec{}.Encode(deadline, values)
	require.NoError(t, err)
	gotDeadline, got, err = c.Decode(old)
	require.NoError(t, err)
	require.True(t, deadline.Equal(gotDeadline))
	require.Equal(t, values, got)

	// A value of another type: the whole session in gob form, which decodes.
	other := map[string]any{"n": 3, "s": "x"}
	b, err = c.Encode(deadline, other)
	require.NoError(t, err)
	require.NotEqual(t, sessionCodecMarker, b[:len(sessionCodecMarker)])
	_, got, err = c.Decode(b)
	require.NoError(t, err)
	require.Equal(t, other, got)

	// Truncated or altered data is refused, never half-read.
	b, err = c.Encode(deadline, values)
	require.NoError(t, err)
	for i := len(sessionCodecMarker); i < len(b); i++ {
		_, _, err := c.Decode(b[:i])
		require.Error(t, err, "truncated at %d", i)
	}
	_, _, err = c.Decode(append(append([]byte{}, b...), 0))
	require.Error(t, err, "trailing byte")
	huge := append(append([]byte{}, sessionCodecMarker...), 0, 0xff, 0xff, 0xff, 0xff, 0x0f)
	_, _, err = c.Decode(huge)
	require.Error(t, err, "a count larger than the data")
}

func BenchmarkSessionCodecDecode(b *testing.B) {
	values := map[string]any{sessLoginID: "3z3m46ogv6afcflwhfh3rf42lq", sessAuthAt: int64(1795000000123456789), sessSeenAt: int64(1795000000), sessCSRF: "k2JtqR0Jb8kq2h3D5l8m9n0p1q2r3s4t5u6v7w8x9y0"}
	deadline := time.Now()
	for _, c := range []struct {
		name  string
		codec scs.Codec
	}{{"latchkey", SessionCodec{}}, {"gob", scs.GobCodec{}}} {
		data, err := c.codec.Encode(deadline, values)
		require.NoError(b, err)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := c.codec.Decode(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
