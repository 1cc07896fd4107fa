package enduser

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// parseBunTime reads what time.Parse reads for bun's SQLite text, and leaves
// anything else to it.
func TestParseBunTime(t *testing.T) {
	for _, s := range []string{
		"2026-11-16 17:41:25.221532+00:00", "2026-11-16 17:41:25+00:00", "2026-11-16 17:41:25.5-05:30",
		"2026-02-28 23:59:59.999999999+14:00", "2026-11-16T17:41:25.221532Z", "2024-02-29 00:00:00.000000001-12:00",
	} {
		want, err := time.Parse("2006-01-02 15:04:05.999999999-07:00", strings.Replace(strings.Replace(s, "T", " ", 1), "Z", "+00:00", 1))
		require.NoError(t, err, s)
		got, ok := parseBunTime(s)
		require.True(t, ok, s)
		require.True(t, want.Equal(got), "%s: %s, want %s", s, got, want)
		var g gridTime
		require.NoError(t, g.Scan(s))
		require.True(t, want.Equal(*g.ptr()), s)
	}
	for _, s := range []string{
		"", "2026-11-16", "2026-11-16 17:41:25", "2026-02-31 10:00:00+00:00", "2026-13-01 10:00:00+00:00",
		"2026-11-16 24:00:00+00:00", "2026-11-16 17:41:25.+00:00", "2026-11-16 17:41:25.1234567891+00:00",
		"2026-11-16 17:41:25+0000", "2026-11-16 17:41:25 +00:00", "20x6-11-16 17:41:25+00:00", "2026-11-16 17:41:25.12a+00:00",
	} {
		_, ok := parseBunTime(s)
		require.False(t, ok, s)
	}
	// Left to time.Parse: no zone (read as UTC).
	var g gridTime
	require.NoError(t, g.Scan("2026-11-16 17:41:25.5"))
	require.True(t, time.Date(2026, 11, 16, 17, 41, 25, 5e8, time.UTC).Equal(*g.ptr()))
}
