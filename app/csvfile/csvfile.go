// Package csvfile is the front end that every CSV upload shares: size and
// encoding checks (UTF-8, a byte order mark is dropped, UTF-16 refused),
// separator detection, header normalising and user-facing messages. Problems
// with the file as a whole are apperr.Invalid errors on the form field "file".
package csvfile

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/latchkey/latchkey/app/apperr"
)

const saveAsUTF8 = "Save it as CSV UTF-8 (in Excel: Save As, “CSV UTF-8 (Comma delimited)”) and upload it again."

// Messages are the caller's wording for a file that is too large or empty.
type Messages struct {
	TooLarge string // e.g. "The file is larger than 1 MB. Split it into …"
	Empty    string // e.g. "The file is empty. Its first row must be the header …"
}

// FileError is an Invalid error on the form field "file".
func FileError(format string, args ...any) error {
	return apperr.Field("file", fmt.Sprintf(format, args...))
}

// Read reads a whole upload of at most maxBytes and checks that it is
// non-empty UTF-8 text; the byte order mark is dropped.
func Read(r io.Reader, maxBytes int, m Messages) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, int64(maxBytes)+1))
	if err != nil {
		return nil, fmt.Errorf("csvfile: read: %w", err)
	}
	if len(data) > maxBytes {
		return nil, FileError("%s", m.TooLarge)
	}
	if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		return nil, FileError("The file is saved as UTF-16. %s", saveAsUTF8)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		return nil, FileError("The file is not UTF-8 text. %s", saveAsUTF8)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, FileError("%s", m.Empty)
	}
	return data, nil
}

// NewReader returns a CSV reader over data with the separator of its first
// line (comma, semicolon or tab), rows of any length and leading spaces trimmed.
func NewReader(data []byte) *csv.Reader {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comma = Separator(data)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	return cr
}

// Separator guesses the separator from the first line.
func Separator(data []byte) rune {
	first, _, _ := bytes.Cut(data, []byte("\n"))
	switch {
	case bytes.ContainsRune(first, ','):
		return ','
	case bytes.ContainsRune(first, ';'):
		return ';'
	case bytes.ContainsRune(first, '\t'):
		return '\t'
	}
	return ','
}

// ParseError turns a CSV reader error into a message naming the row (or the
// empty-file message at end of file).
func ParseError(err error, m Messages) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return FileError("Row %d of the file is not valid CSV (%v). Check the quotes on that row and upload the file again.", pe.StartLine, pe.Err)
	}
	if errors.Is(err, io.EOF) {
		return FileError("%s", m.Empty)
	}
	return fmt.Errorf("csvfile: read: %w", err)
}

// NormHeader lowercases a header and drops spaces, underscores, hyphens and
// dots ("First Name", "first_name" and "FIRSTNAME" are the same column).
func NormHeader(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	return strings.NewReplacer(" ", "", "_", "", "-", "", ".", "", "\u00a0", "").Replace(h)
}

// ColumnName is a spreadsheet column letter (0 → A, 26 → AA).
func ColumnName(i int) string {
	s := ""
	for i++; i > 0; i = (i - 1) / 26 {
		s = string(rune('A'+(i-1)%26)) + s
	}
	return s
}

// BlankRow reports whether every cell of a record is empty or spaces.
func BlankRow(rec []string) bool {
	for _, v := range rec {
		if strings.TrimSpace(v) != "" {
			return false
		}
	}
	return true
}
