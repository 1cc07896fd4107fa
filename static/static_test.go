package static

import (
	"io/fs"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAssetsPresent(t *testing.T) {
	t.Parallel()

	for _, name := range []string{
		"css/app.css",
		"js/app.js",
		"img/logo.svg",
		"img/favicon.svg",
		"vendor/htmx.min.js",
		"vendor/htmx-ext-sse.js",
		"vendor/VERSIONS.md",
	} {
		b, err := fs.ReadFile(FS(), name)
		require.NoError(t, err, name)
		require.NotEmpty(t, b, name)
	}
}

func TestVendoredVersions(t *testing.T) {
	t.Parallel()

	htmx, err := fs.ReadFile(FS(), "vendor/htmx.min.js")
	require.NoError(t, err)
	// htmx.min.js carries its version as the literal version:"2.0.11".
	require.Contains(t, string(htmx), `version:"2.0.11"`)

	sse, err := fs.ReadFile(FS(), "vendor/htmx-ext-sse.js")
	require.NoError(t, err)
	// Classic (non-ESM) build that registers itself with the global htmx.
	require.Contains(t, string(sse), `htmx.defineExtension("sse"`)
	require.NotContains(t, string(sse), "export ")
}
