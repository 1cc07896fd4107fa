package password

import (
	"crypto/rand"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"unicode"
)

// Generated passwords: passphrases of EFF words (see WORDLIST_SOURCE.md) and
// random "complex" passwords, both from crypto/rand, both meeting a
// directory's requirements (minimum length, Active Directory complexity).

// WordList names a passphrase word list.
type WordList string

// The word lists.
const (
	// LongWords is the EFF long list (7,772 words, ≈12.9 bits a word).
	LongWords WordList = "long"
	// ShortWords is the EFF short list (1,295 words of at most five
	// letters, ≈10.3 bits a word).
	ShortWords WordList = "short"
)

// Passphrase bounds.
const (
	DefaultLongWords  = 4  // words of the long list by default
	DefaultShortWords = 5  // words of the short list by default
	MinWords          = 3  // fewest words a caller may ask for
	MaxWords          = 10 // most words a caller may ask for
	// maxLengthWords bounds the words added to reach a directory's minimum length.
	maxLengthWords = 40
)

// Complex password bounds (the panel's slider).
const (
	MinComplexLength     = 8
	MaxComplexLength     = 99
	DefaultComplexLength = 16
)

// Separators are the characters a passphrase may put between its words, in
// the order a form offers them. All but the space count as a symbol for
// Active Directory's complexity rule.
var Separators = []string{"-", ".", "_", "~", "+", "=", "#", "!", "*", " "}

// Symbols are the characters a complex password draws its symbols from: all
// on Microsoft's list of non-alphanumeric characters, and none that is hard
// to type, read aloud or paste into a form or a shell (no quotes,
// backslash, backtick, space, comma or angle brackets).
const Symbols = "!#$%&*+-=?@^_~.:"

const (
	lowers = "abcdefghijklmnopqrstuvwxyz"
	uppers = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	digits = "0123456789"
)

// Requirements are what a generated password must satisfy.
type Requirements struct {
	// MinLength: the directory's minimum length (0: none).
	MinLength int
	// Complexity: Active Directory's complexity rule (characters of three
	// of: uppercase, lowercase, digits, symbols).
	Complexity bool
	// Avoid: strings the password must not contain, case-insensitively
	// (the account name and the parts of the user's name, as Active
	// Directory checks them); those shorter than three characters are
	// ignored.
	Avoid []string
}

// PassphraseOptions shape a passphrase.
type PassphraseOptions struct {
	List WordList // "" is LongWords
	// Words: how many words (0: DefaultLongWords or DefaultShortWords);
	// MinWords to MaxWords. More are added when the directory's minimum
	// length needs them.
	Words int
	// Separator: one of Separators ("" is "-").
	Separator string
	// Digits adds two random digits to the end of one random word. They are
	// added anyway when the complexity rule needs them (space separator).
	Digits bool
	Requirements
}

// ComplexOptions shape a complex password.
type ComplexOptions struct {
	// Length: MinComplexLength to MaxComplexLength (0: DefaultComplexLength),
	// and never below the directory's minimum length.
	Length int
	// Numbers and Symbols add those characters (at least one of each). With
	// both off, digits are used anyway when the complexity rule is on:
	// letters alone are only two of the four kinds.
	Numbers, Symbols bool
	Requirements
}

// ErrOptions reports options the generators cannot honour.
var ErrOptions = errors.New("password: invalid generator options")

// Word lists, loaded once. Words with a hyphen are left out (see
// WORDLIST_SOURCE.md).
var (
	//go:embed eff_large_wordlist.txt
	effLarge string
	//go:embed eff_short_wordlist_1.txt
	effShort string

	longWords  = sync.OnceValue(func() []string { return parseWordList(effLarge) })
	shortWords = sync.OnceValue(func() []string { return parseWordList(effShort) })
)

// parseWordList reads "dice<TAB>word" lines.
func parseWordList(s string) []string {
	out := make([]string, 0, 7776)
	for line := range strings.Lines(s) {
		_, w, ok := strings.Cut(strings.TrimSpace(line), "\t")
		if !ok || w == "" || strings.Contains(w, "-") {
			continue
		}
		out = append(out, w)
	}
	return out
}

func wordsOf(l WordList) ([]string, error) {
	switch l {
	case LongWords, "":
		return longWords(), nil
	case ShortWords:
		return shortWords(), nil
	}
	return nil, fmt.Errorf("%w: unknown word list %q", ErrOptions, l)
}

// ValidSeparator reports whether s is one of Separators.
func ValidSeparator(s string) bool {
	for _, v := range Separators {
		if v == s {
			return true
		}
	}
	return false
}

// PassphraseWords is how many words a passphrase of o starts with (before
// any added for the minimum length).
func PassphraseWords(o PassphraseOptions) int {
	n := o.Words
	if n == 0 {
		n = DefaultLongWords
		if o.List == ShortWords {
			n = DefaultShortWords
		}
	}
	return n
}

// Passphrase returns a passphrase: words drawn uniformly (with replacement)
// from the list, each capitalised ("Maple-Orbit-Sandy-Thumb"), joined by the
// separator, with two random digits after one word when asked for or when
// the complexity rule needs them. Words are added until the directory's
// minimum length is reached. The result satisfies o.Requirements.
// Errors: ErrOptions (unknown list or separator, word count out of bounds).
func Passphrase(o PassphraseOptions) (string, error) {
	list, err := wordsOf(o.List)
	if err != nil {
		return "", err
	}
	sep := o.Separator
	if sep == "" {
		sep = "-"
	}
	if !ValidSeparator(sep) {
		return "", fmt.Errorf("%w: separator %q", ErrOptions, sep)
	}
	n := PassphraseWords(o)
	if n < MinWords || n > MaxWords {
		return "", fmt.Errorf("%w: %d words (%d to %d)", ErrOptions, n, MinWords, MaxWords)
	}
	// Capitalised words give upper and lower case; a symbol separator is the
	// third kind, else digits are.
	withDigits := o.Digits || (o.Complexity && sep == " ")
	r := newSource()
	for range maxTries {
		words := make([]string, 0, n+4)
		length := 0
		for len(words) < n || (length < o.MinLength && len(words) < maxLengthWords) {
			w := list[r.intn(len(list))]
			words = append(words, capitalise(w))
			length += len(w)
			if len(words) > 1 {
				length += len(sep)
			}
			if withDigits && len(words) == n {
				length += 2
			}
		}
		if withDigits {
			i := r.intn(len(words))
			words[i] += string(digits[r.intn(10)]) + string(digits[r.intn(10)])
		}
		pw := strings.Join(words, sep)
		if len(pw) >= o.MinLength && !containsAny(pw, o.Avoid) {
			return pw, nil
		}
	}
	return "", fmt.Errorf("%w: no passphrase avoids the given words", ErrOptions)
}

// maxTries bounds the draws that avoid given words or miss a kind of
// character (each draw fails with a small probability).
const maxTries = 1000

// ComplexLength is the length Complex uses for o: o.Length (or the default)
// within MinComplexLength..MaxComplexLength, raised to the directory's
// minimum length.
func ComplexLength(o ComplexOptions) int {
	n := o.Length
	if n == 0 {
		n = DefaultComplexLength
	}
	n = max(MinComplexLength, min(n, MaxComplexLength))
	return max(n, o.MinLength)
}

// Complex returns a random password of ComplexLength(o) characters, drawn
// uniformly from lower and upper case letters plus the digits and symbols
// asked for, with at least one character of each kind in use (draws that
// miss one are thrown away, so every such password is equally likely). It
// always satisfies Active Directory's complexity rule: with neither digits
// nor symbols asked for, digits are used when o.Complexity is set.
// Errors: ErrOptions (the directory's minimum is above MaxLength).
func Complex(o ComplexOptions) (string, error) {
	n := ComplexLength(o)
	if n > MaxLength {
		return "", fmt.Errorf("%w: %d characters (at most %d)", ErrOptions, n, MaxLength)
	}
	numbers := o.Numbers || (o.Complexity && !o.Symbols)
	classes := []string{lowers, uppers}
	if numbers {
		classes = append(classes, digits)
	}
	if o.Symbols {
		classes = append(classes, Symbols)
	}
	alphabet := strings.Join(classes, "")
	r := newSource()
	b := make([]byte, n)
	for range maxTries {
		for i := range b {
			b[i] = alphabet[r.intn(len(alphabet))]
		}
		if hasEach(b, classes) && !containsAny(string(b), o.Avoid) {
			return string(b), nil
		}
	}
	return "", fmt.Errorf("%w: no password avoids the given words", ErrOptions)
}

// PassphraseBits is the entropy of a passphrase of o with words words, in
// bits (for display: "about 52 bits").
func PassphraseBits(o PassphraseOptions, words int) float64 {
	list, err := wordsOf(o.List)
	if err != nil || words <= 0 {
		return 0
	}
	bits := float64(words) * math.Log2(float64(len(list)))
	if o.Digits || (o.Complexity && o.Separator == " ") {
		bits += math.Log2(100 * float64(words))
	}
	return bits
}

// ComplexBits is the entropy of a complex password of o, in bits (a slight
// overestimate: draws missing a kind are thrown away).
func ComplexBits(o ComplexOptions) float64 {
	size := len(lowers) + len(uppers)
	if o.Numbers || (o.Complexity && !o.Symbols) {
		size += len(digits)
	}
	if o.Symbols {
		size += len(Symbols)
	}
	return float64(ComplexLength(o)) * math.Log2(float64(size))
}

func capitalise(w string) string {
	if w == "" {
		return w
	}
	return strings.ToUpper(w[:1]) + w[1:]
}

func hasEach(b []byte, classes []string) bool {
	for _, c := range classes {
		found := false
		for _, ch := range b {
			if strings.IndexByte(c, ch) >= 0 {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// containsAny reports whether pw contains one of the strings of three or
// more characters, case-insensitively.
func containsAny(pw string, avoid []string) bool {
	lower := strings.ToLower(pw)
	for _, a := range avoid {
		a = strings.ToLower(strings.TrimSpace(a))
		if len([]rune(a)) >= 3 && strings.Contains(lower, a) {
			return true
		}
	}
	return false
}

// source hands out uniform random integers from crypto/rand, reading it a
// block at a time.
type source struct {
	buf [256]byte
	off int
}

func newSource() *source { return &source{off: 256} }

func (s *source) uint32() uint32 {
	if s.off+4 > len(s.buf) {
		if _, err := rand.Read(s.buf[:]); err != nil {
			// crypto/rand.Read does not fail on supported platforms (Go 1.24+
			// crashes the program instead).
			panic("password: crypto/rand: " + err.Error())
		}
		s.off = 0
	}
	v := binary.LittleEndian.Uint32(s.buf[s.off:])
	s.off += 4
	return v
}

// intn returns a uniform integer in [0, n), 0 < n < 2^31, by rejection.
func (s *source) intn(n int) int {
	limit := (1 << 32) / uint64(n) * uint64(n) // up to 2^32: kept in 64 bits
	for {
		if v := uint64(s.uint32()); v < limit {
			return int(v % uint64(n))
		}
	}
}

// CommonVariant reports whether pw is a common password, or a common password
// with digits and symbols added at its end or start ("Password123!",
// "1qaz2wsx" is on the list itself): the blocklist check for end users'
// passwords, which directories let through.
func CommonVariant(pw string) bool {
	if IsCommon(pw) {
		return true
	}
	core := strings.TrimFunc(pw, func(r rune) bool { return !unicode.IsLetter(r) })
	return len(core) >= 4 && core != pw && IsCommon(core)
}
