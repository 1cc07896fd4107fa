package csvfile_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/csvfile"
)

var msgs = csvfile.Messages{TooLarge: "too large", Empty: "empty"}

func TestRead(t *testing.T) {
	t.Parallel()
	data, err := csvfile.Read(strings.NewReader("\xef\xbb\xbfa,b\n1,2\n"), 100, msgs)
	require.NoError(t, err)
	require.Equal(t, "a,b\n1,2\n", string(data), "the byte order mark is dropped")
	for in, want := range map[string]string{
		strings.Repeat("x", 101): "too large",
		"\xff\xfea\x00":          "UTF-16",
		"a,\xc3\x28":             "not UTF-8",
		"  \n ":                  "empty",
	} {
		_, err := csvfile.Read(strings.NewReader(in), 100, msgs)
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
		require.Contains(t, apperr.FieldsOf(err)["file"], want)
	}
}

func TestReaderSeparatorsAndErrors(t *testing.T) {
	t.Parallel()
	for _, sep := range []string{",", ";", "\t"} {
		rec, err := csvfile.NewReader([]byte("a" + sep + "b\n")).Read()
		require.NoError(t, err)
		require.Equal(t, []string{"a", "b"}, rec)
	}
	_, err := csvfile.NewReader([]byte("a,b\n\"x,y\n")).ReadAll()
	require.Contains(t, apperr.FieldsOf(csvfile.ParseError(err, msgs))["file"], "not valid CSV")
	require.Equal(t, "first", csvfile.NormHeader(" First"))
	require.Equal(t, csvfile.NormHeader("First Name"), csvfile.NormHeader("first_name"))
	require.Equal(t, "AA", csvfile.ColumnName(26))
	require.True(t, csvfile.BlankRow([]string{" ", ""}))
	require.False(t, csvfile.BlankRow([]string{" ", "x"}))
}
