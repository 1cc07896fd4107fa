package tenant

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"net/http"

	"github.com/latchkey/latchkey/app/apperr"
)

// Logo limits: the upload is at most 2 MB, PNG or JPEG (told by its content,
// not its name), and is scaled to fit 200×95 pixels and stored as PNG.
const (
	LogoMaxBytes  = 2 << 20
	LogoMaxWidth  = 200
	LogoMaxHeight = 95
	LogoType      = "image/png"

	// Bounds on the decoded image, so that a small file that decompresses to
	// a huge bitmap is refused before it is decoded.
	logoMaxSide   = 8000
	logoMaxPixels = 24_000_000
)

// ProcessLogo checks an uploaded logo and returns it as a PNG scaled down
// (never up) to fit LogoMaxWidth×LogoMaxHeight, keeping its aspect ratio.
// Errors: Invalid on field "logo" (empty, too large, not PNG/JPEG, damaged,
// too many pixels).
func ProcessLogo(raw []byte) ([]byte, error) {
	if len(raw) == 0 {
		return nil, apperr.Field("logo", "The logo file is empty. Choose a PNG or JPEG image.")
	}
	if len(raw) > LogoMaxBytes {
		return nil, apperr.Field("logo", "The logo must be 2 MB or smaller. Choose a smaller PNG or JPEG image.")
	}
	var (
		decodeConfig func(io.Reader) (image.Config, error)
		decode       func(io.Reader) (image.Image, error)
	)
	switch ct := http.DetectContentType(raw); ct {
	case "image/png":
		decodeConfig, decode = png.DecodeConfig, png.Decode
	case "image/jpeg":
		decodeConfig, decode = jpeg.DecodeConfig, jpeg.Decode
	default:
		return nil, apperr.Field("logo", fmt.Sprintf("Use a PNG or JPEG image. This file is %s, whatever its name says.", describeType(ct)))
	}
	cfg, err := decodeConfig(bytes.NewReader(raw))
	if err != nil {
		return nil, apperr.Field("logo", "This image cannot be read; it may be damaged. Save it again as PNG or JPEG and retry.")
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > logoMaxSide || cfg.Height > logoMaxSide || cfg.Width*cfg.Height > logoMaxPixels {
		return nil, apperr.Field("logo", fmt.Sprintf("This image is %d×%d pixels; use one of at most %d pixels on each side.", cfg.Width, cfg.Height, logoMaxSide))
	}
	img, err := decode(bytes.NewReader(raw))
	if err != nil {
		return nil, apperr.Field("logo", "This image cannot be read; it may be damaged. Save it again as PNG or JPEG and retry.")
	}
	w, h := FitLogo(cfg.Width, cfg.Height)
	out := scaleArea(img, w, h)
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, out); err != nil {
		return nil, fmt.Errorf("tenant: encode logo: %w", err)
	}
	return buf.Bytes(), nil
}

// describeType names a detected content type for an error message.
func describeType(ct string) string {
	switch ct {
	case "image/gif":
		return "a GIF"
	case "image/webp":
		return "a WebP image"
	case "image/bmp":
		return "a BMP image"
	case "image/x-icon":
		return "an icon file"
	case "application/pdf":
		return "a PDF"
	}
	if len(ct) >= 5 && ct[:5] == "text/" {
		return "text, not an image"
	}
	return "not an image we can use"
}

// FitLogo returns the size a w×h image is scaled to: the largest size within
// LogoMaxWidth×LogoMaxHeight with the same aspect ratio, or w×h when it fits.
func FitLogo(w, h int) (int, int) {
	if w <= LogoMaxWidth && h <= LogoMaxHeight {
		return w, h
	}
	s := math.Min(float64(LogoMaxWidth)/float64(w), float64(LogoMaxHeight)/float64(h))
	dw := min(LogoMaxWidth, max(1, int(math.Round(float64(w)*s))))
	dh := min(LogoMaxHeight, max(1, int(math.Round(float64(h)*s))))
	return dw, dh
}

// tap is one source pixel's share in a destination pixel.
type tap struct {
	src int
	w   float32
}

// boxWeights returns, for each of dn destination pixels along an axis of sn
// source pixels, the source pixels it covers and the share of each (the
// overlap of the pixel's footprint, normalised to sum to 1).
func boxWeights(sn, dn int) [][]tap {
	out := make([][]tap, dn)
	scale := float64(sn) / float64(dn)
	for i := range dn {
		lo, hi := float64(i)*scale, float64(i+1)*scale
		var taps []tap
		var sum float64
		for j := int(math.Floor(lo)); j < int(math.Ceil(hi)) && j < sn; j++ {
			ov := math.Min(hi, float64(j+1)) - math.Max(lo, float64(j))
			if ov <= 0 {
				continue
			}
			taps = append(taps, tap{j, float32(ov)})
			sum += ov
		}
		for k := range taps {
			taps[k].w /= float32(sum)
		}
		out[i] = taps
	}
	return out
}

// scaleArea resizes img to dw×dh by area averaging (a box filter: each
// destination pixel is the mean of the source area it covers), in
// premultiplied alpha so that transparent edges do not darken. It is exact for
// downscaling, and a plain copy when the size does not change.
func scaleArea(img image.Image, dw, dh int) *image.RGBA {
	b := img.Bounds()
	src := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(src, src.Rect, img, b.Min, draw.Src)
	sw, sh := b.Dx(), b.Dy()
	if sw == dw && sh == dh {
		return src
	}
	xw, yw := boxWeights(sw, dw), boxWeights(sh, dh)

	// Horizontal pass: sh rows of dw pixels, 4 channels each.
	tmp := make([]float32, sh*dw*4)
	for y := range sh {
		row := src.Pix[y*src.Stride:]
		for x, taps := range xw {
			var r, g, bl, a float32
			for _, t := range taps {
				p := row[t.src*4:]
				r += float32(p[0]) * t.w
				g += float32(p[1]) * t.w
				bl += float32(p[2]) * t.w
				a += float32(p[3]) * t.w
			}
			o := (y*dw + x) * 4
			tmp[o], tmp[o+1], tmp[o+2], tmp[o+3] = r, g, bl, a
		}
	}
	// Vertical pass into the destination.
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y, taps := range yw {
		for x := range dw {
			var r, g, bl, a float32
			for _, t := range taps {
				o := (t.src*dw + x) * 4
				r += tmp[o] * t.w
				g += tmp[o+1] * t.w
				bl += tmp[o+2] * t.w
				a += tmp[o+3] * t.w
			}
			p := dst.Pix[y*dst.Stride+x*4:]
			p[0], p[1], p[2], p[3] = to8(r), to8(g), to8(bl), to8(a)
		}
	}
	return dst
}

// to8 rounds a channel value to a byte. Rounding is monotonic, so a colour
// channel never exceeds the alpha it was premultiplied by.
func to8(v float32) uint8 {
	v += 0.5
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v)
}
