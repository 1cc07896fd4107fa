package app_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/config"
)

// TestReadmeDocumentsEverySetting keeps the README's configuration table and
// its two set-up commands true.
func TestReadmeDocumentsEverySetting(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	readme := string(b)
	require.Contains(t, readme, "go run ./cmd/latchkey")
	require.Contains(t, readme, "go test ./...")
	for _, v := range config.Vars {
		require.Contains(t, readme, "`"+v.Env+"`", "README must document %s", v.Env)
		if v.Flag != "" {
			require.Contains(t, readme, "`--"+v.Flag+"`", "README must document --%s", v.Flag)
		}
	}
	require.False(t, strings.Contains(readme, "TODO"))
}
