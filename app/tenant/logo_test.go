package tenant_test

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apperr"
	"github.com/latchkey/latchkey/app/tenant"
)

// pattern draws a left half of opaque dark blue and a right half of white.
func pattern(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{0x10, 0x20, 0x80, 0xff}
			if x >= w/2 {
				c = color.NRGBA{0xff, 0xff, 0xff, 0xff}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, pattern(w, h)))
	return b.Bytes()
}

func jpegOf(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, jpeg.Encode(&b, pattern(w, h), &jpeg.Options{Quality: 90}))
	return b.Bytes()
}

// dims decodes a stored logo, which must be a PNG, and returns its size.
func dims(t *testing.T, b []byte) [2]int {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	require.NoError(t, err, "stored logo must be a PNG")
	return [2]int{img.Bounds().Dx(), img.Bounds().Dy()}
}

func TestProcessLogoScales(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  func(t *testing.T) []byte
		want [2]int
	}{
		{"wide PNG limited by width", func(t *testing.T) []byte { return pngOf(t, 1000, 200) }, [2]int{200, 40}},
		{"tall PNG limited by height", func(t *testing.T) []byte { return pngOf(t, 400, 400) }, [2]int{95, 95}},
		{"PNG limited by height", func(t *testing.T) []byte { return pngOf(t, 800, 400) }, [2]int{190, 95}},
		{"JPEG", func(t *testing.T) []byte { return jpegOf(t, 1200, 570) }, [2]int{200, 95}},
		{"small PNG not enlarged", func(t *testing.T) []byte { return pngOf(t, 120, 40) }, [2]int{120, 40}},
		{"small JPEG re-encoded as PNG", func(t *testing.T) []byte { return jpegOf(t, 50, 50) }, [2]int{50, 50}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := tenant.ProcessLogo(tt.raw(t))
			require.NoError(t, err)
			require.Equal(t, tt.want, dims(t, out))
		})
	}
}

func TestProcessLogoAverages(t *testing.T) {
	t.Parallel()
	// 400×190 → 200×95: each output pixel is the mean of a 2×2 block, so the
	// halves keep their exact colours.
	out, err := tenant.ProcessLogo(pngOf(t, 400, 190))
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(out))
	require.NoError(t, err)
	r, g, b, a := img.At(10, 50).RGBA()
	require.Equal(t, []uint32{0x10, 0x20, 0x80, 0xff}, []uint32{r >> 8, g >> 8, b >> 8, a >> 8})
	r, g, b, _ = img.At(150, 50).RGBA()
	require.Equal(t, []uint32{0xff, 0xff, 0xff}, []uint32{r >> 8, g >> 8, b >> 8})

	// 3 → 1 pixel across a two-colour edge: area weights give a blend.
	src := image.NewNRGBA(image.Rect(0, 0, 600, 95))
	for y := range 95 {
		for x := range 600 {
			v := uint8(0)
			if x%3 == 2 {
				v = 255
			}
			src.SetNRGBA(x, y, color.NRGBA{v, v, v, 255})
		}
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, src))
	out, err = tenant.ProcessLogo(buf.Bytes())
	require.NoError(t, err)
	img, err = png.Decode(bytes.NewReader(out))
	require.NoError(t, err)
	require.Equal(t, 200, img.Bounds().Dx())
	gr, _, _, _ := img.At(100, 10).RGBA()
	require.InDelta(t, 85, int(gr>>8), 1, "one white pixel in three averages to a third")

	// Transparency survives, and a transparent edge does not darken.
	tr := image.NewNRGBA(image.Rect(0, 0, 400, 190))
	for y := range 190 {
		for x := range 400 {
			if x < 200 {
				tr.SetNRGBA(x, y, color.NRGBA{255, 0, 0, 255})
			}
		}
	}
	buf.Reset()
	require.NoError(t, png.Encode(&buf, tr))
	out, err = tenant.ProcessLogo(buf.Bytes())
	require.NoError(t, err)
	img, err = png.Decode(bytes.NewReader(out))
	require.NoError(t, err)
	_, _, _, a = img.At(150, 10).RGBA()
	require.Zero(t, a)
	c := color.NRGBAModel.Convert(img.At(99, 10)).(color.NRGBA)
	require.Equal(t, color.NRGBA{255, 0, 0, 255}, c)
}

func TestProcessLogoRejects(t *testing.T) {
	t.Parallel()
	var gb bytes.Buffer
	require.NoError(t, gif.Encode(&gb, pattern(40, 20), nil))
	huge := pngOf(t, 10, 10)
	// A PNG header that claims 20000×20000 pixels (a decompression bomb).
	bomb := func() []byte {
		var b bytes.Buffer
		require.NoError(t, png.Encode(&b, image.NewGray(image.Rect(0, 0, 9000, 10))))
		return b.Bytes()
	}()
	tests := []struct {
		name string
		raw  []byte
		msg  string
	}{
		{"GIF", gb.Bytes(), "GIF"},
		{"text named .png", []byte("This is not a logo, just text in a file called logo.png\n"), "text"},
		{"empty", []byte{}, "empty"},
		{"too large", append(huge, make([]byte, tenant.LogoMaxBytes)...), "2 MB"},
		{"damaged PNG", pngOf(t, 300, 300)[:200], "damaged"},
		{"too many pixels", bomb, "pixels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tenant.ProcessLogo(tt.raw)
			require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
			msg := apperr.FieldsOf(err)["logo"]
			require.Contains(t, msg, tt.msg)
		})
	}
}
