package password

import (
	"errors"
	"math"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"
)

func TestWordLists(t *testing.T) {
	t.Parallel()
	long, short := longWords(), shortWords()
	require.Len(t, long, 7772, "7,776 EFF long words less the 4 with a hyphen")
	require.Len(t, short, 1295, "1,296 EFF short words less yo-yo")
	for _, list := range [][]string{long, short} {
		seen := map[string]bool{}
		for _, w := range list {
			require.False(t, seen[w], "duplicate %q", w)
			seen[w] = true
			for _, r := range w {
				require.True(t, r >= 'a' && r <= 'z', "word %q is lowercase ASCII letters only", w)
			}
		}
	}
	for _, w := range short {
		require.LessOrEqual(t, len(w), 5, w)
	}
	require.Equal(t, "abacus", long[0])
	require.Equal(t, "zoom", short[len(short)-1])
}

// adCategories counts Active Directory's kinds of characters (ASCII).
func adCategories(pw string) int {
	var u, l, d, s bool
	for _, r := range pw {
		switch {
		case unicode.IsUpper(r):
			u = true
		case unicode.IsLower(r):
			l = true
		case unicode.IsDigit(r):
			d = true
		case strings.ContainsRune("~!@#$%^&*_-+=`|\\(){}[]:;\"'<>,.?/", r):
			s = true
		}
	}
	n := 0
	for _, b := range []bool{u, l, d, s} {
		if b {
			n++
		}
	}
	return n
}

func TestPassphraseShape(t *testing.T) {
	t.Parallel()
	long := map[string]bool{}
	for _, w := range longWords() {
		long[w] = true
	}
	for range 2000 {
		pw, err := Passphrase(PassphraseOptions{})
		require.NoError(t, err)
		parts := strings.Split(pw, "-")
		require.Len(t, parts, DefaultLongWords, pw)
		for _, p := range parts {
			require.True(t, long[strings.ToLower(p)], "%q is a long-list word", p)
			require.True(t, unicode.IsUpper(rune(p[0])), "capitalised: %q", p)
		}
	}
	short := map[string]bool{}
	for _, w := range shortWords() {
		short[w] = true
	}
	for range 2000 {
		pw, err := Passphrase(PassphraseOptions{List: ShortWords, Separator: ".", Digits: true})
		require.NoError(t, err)
		parts := strings.Split(pw, ".")
		require.Len(t, parts, DefaultShortWords, pw)
		withDigits := 0
		for _, p := range parts {
			word := strings.TrimRightFunc(p, unicode.IsDigit)
			require.True(t, short[strings.ToLower(word)], "%q is a short-list word", p)
			if word != p {
				withDigits++
				require.Len(t, p, len(word)+2, "two digits: %q", p)
			}
		}
		require.Equal(t, 1, withDigits, pw)
	}
}

// TestGeneratedSatisfyPolicy draws many passwords under strict policies and
// checks each against the policy: length, complexity, avoided words.
func TestGeneratedSatisfyPolicy(t *testing.T) {
	t.Parallel()
	req := Requirements{MinLength: 14, Complexity: true, Avoid: []string{"asmith", "Ann", "Smith", "al"}}
	for _, sep := range Separators {
		for _, list := range []WordList{LongWords, ShortWords} {
			for range 300 {
				pw, err := Passphrase(PassphraseOptions{List: list, Separator: sep, Words: MinWords, Requirements: req})
				require.NoError(t, err)
				require.GreaterOrEqual(t, len(pw), 14, pw)
				require.GreaterOrEqual(t, adCategories(pw), 3, "%q (separator %q)", pw, sep)
				require.False(t, containsAny(pw, req.Avoid), pw)
			}
		}
	}
	for length := MinComplexLength; length <= MaxComplexLength; length++ {
		for _, kinds := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			for range 20 {
				o := ComplexOptions{Length: length, Numbers: kinds[0], Symbols: kinds[1], Requirements: req}
				pw, err := Complex(o)
				require.NoError(t, err)
				require.Len(t, pw, max(length, 14))
				require.GreaterOrEqual(t, adCategories(pw), 3, pw)
				require.False(t, containsAny(pw, req.Avoid), pw)
				require.Equal(t, kinds[1], strings.ContainsAny(pw, Symbols), "symbols only when asked: %q", pw)
				if kinds[0] {
					require.True(t, strings.ContainsAny(pw, digits), pw)
				}
				if !kinds[0] && kinds[1] {
					require.False(t, strings.ContainsAny(pw, digits), "no digits unless needed: %q", pw)
				}
			}
		}
	}
}

func TestGeneratorBounds(t *testing.T) {
	t.Parallel()
	require.Equal(t, DefaultComplexLength, ComplexLength(ComplexOptions{}))
	require.Equal(t, MinComplexLength, ComplexLength(ComplexOptions{Length: 3}))
	require.Equal(t, MaxComplexLength, ComplexLength(ComplexOptions{Length: 500}))
	require.Equal(t, 20, ComplexLength(ComplexOptions{Length: 8, Requirements: Requirements{MinLength: 20}}), "never below the directory minimum")
	require.Equal(t, 120, ComplexLength(ComplexOptions{Length: 8, Requirements: Requirements{MinLength: 120}}))
	_, err := Complex(ComplexOptions{Requirements: Requirements{MinLength: MaxLength + 1}})
	require.True(t, errors.Is(err, ErrOptions))

	for _, o := range []PassphraseOptions{{Words: 2}, {Words: 11}, {Separator: "x"}, {List: "huge"}} {
		_, err := Passphrase(o)
		require.True(t, errors.Is(err, ErrOptions), "%+v", o)
	}
	// Words are added to reach a long minimum.
	pw, err := Passphrase(PassphraseOptions{List: ShortWords, Words: 3, Requirements: Requirements{MinLength: 60}})
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(pw), 60)
	// Without complexity and without digits, no digits appear; with a space
	// separator and complexity, digits do.
	pw, err = Passphrase(PassphraseOptions{Separator: " "})
	require.NoError(t, err)
	require.False(t, strings.ContainsAny(pw, digits))
	pw, err = Passphrase(PassphraseOptions{Separator: " ", Requirements: Requirements{Complexity: true}})
	require.NoError(t, err)
	require.True(t, strings.ContainsAny(pw, digits), pw)

	require.InDelta(t, 4*math.Log2(7772), PassphraseBits(PassphraseOptions{}, 4), 0.01)
	require.InDelta(t, 16*math.Log2(78), ComplexBits(ComplexOptions{Numbers: true, Symbols: true}), 0.01)
}

// TestGeneratorDistribution checks that characters and words are drawn
// uniformly: chi-squared over many draws, far from any plausible bias.
func TestGeneratorDistribution(t *testing.T) {
	t.Parallel()
	// Complex: every position, every character of the alphabet.
	alphabet := lowers + uppers + digits + Symbols
	counts := map[byte]int{}
	for range 20000 {
		pw, err := Complex(ComplexOptions{Length: 20, Numbers: true, Symbols: true})
		require.NoError(t, err)
		for i := range len(pw) {
			counts[pw[i]]++
		}
	}
	require.Len(t, counts, len(alphabet))
	// Uniform within each kind (draws missing a kind are thrown away, which
	// makes the rarer kinds a little more frequent overall, as it should:
	// every valid password is equally likely).
	for _, class := range []string{lowers, uppers, digits, Symbols} {
		cc, n := map[byte]int{}, 0
		for i := range len(class) {
			cc[class[i]] = counts[class[i]]
			n += counts[class[i]]
		}
		require.Less(t, chiSquared(cc, n, len(class)), chiLimit(len(class)-1), class)
	}

	// Short words: 1,295 buckets; 100 draws a bucket on average.
	wc := map[string]int{}
	total := 0
	for range 26000 {
		pw, err := Passphrase(PassphraseOptions{List: ShortWords})
		require.NoError(t, err)
		for _, w := range strings.Split(pw, "-") {
			wc[strings.ToLower(w)]++
			total++
		}
	}
	require.Greater(t, len(wc), 1280, "nearly every word drawn")
	require.Less(t, chiSquared(wc, total, len(shortWords())), chiLimit(len(shortWords())-1))

	// The digits' word: every position equally likely.
	pos := map[int]int{}
	for range 8000 {
		pw, err := Passphrase(PassphraseOptions{Digits: true})
		require.NoError(t, err)
		for i, w := range strings.Split(pw, "-") {
			if unicode.IsDigit(rune(w[len(w)-1])) {
				pos[i]++
			}
		}
	}
	require.Less(t, chiSquared(pos, 8000, DefaultLongWords), chiLimit(DefaultLongWords-1))
}

func chiSquared[K comparable](counts map[K]int, total, buckets int) float64 {
	want := float64(total) / float64(buckets)
	x := 0.0
	seen := 0
	for _, c := range counts {
		d := float64(c) - want
		x += d * d / want
		seen++
	}
	return x + float64(buckets-seen)*want // buckets never drawn
}

// chiLimit is a generous upper bound for chi-squared with df degrees of
// freedom (mean df, sd √(2df)): seven standard deviations.
func chiLimit(df int) float64 { return float64(df) + 7*math.Sqrt(2*float64(df)) }

func TestCommonVariant(t *testing.T) {
	t.Parallel()
	for _, pw := range []string{"password", "Password123!", "!!Password1", "Summer2024!", "qwerty123456"} {
		require.True(t, CommonVariant(pw), pw)
	}
	for _, pw := range []string{"Maple-Orbit-Sandy-Thumb", "Xk9#mQ2$vL7!pR4", "12345!", ""} {
		require.False(t, CommonVariant(pw), pw)
	}
}

// BenchmarkGenerate reports generator throughput (passwords a second).
func BenchmarkGenerate(b *testing.B) {
	req := Requirements{MinLength: 12, Complexity: true, Avoid: []string{"asmith", "Ann", "Smith"}}
	b.Run("passphrase-long", func(b *testing.B) {
		for b.Loop() {
			if _, err := Passphrase(PassphraseOptions{Digits: true, Requirements: req}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "passwords/s")
	})
	b.Run("passphrase-short", func(b *testing.B) {
		for b.Loop() {
			if _, err := Passphrase(PassphraseOptions{List: ShortWords, Requirements: req}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "passwords/s")
	})
	b.Run("complex-16", func(b *testing.B) {
		for b.Loop() {
			if _, err := Complex(ComplexOptions{Numbers: true, Symbols: true, Requirements: req}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "passwords/s")
	})
	b.Run("complex-99", func(b *testing.B) {
		for b.Loop() {
			if _, err := Complex(ComplexOptions{Length: 99, Numbers: true, Symbols: true, Requirements: req}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "passwords/s")
	})
}
