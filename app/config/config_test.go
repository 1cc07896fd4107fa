package config_test

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/config"
)

func load(t *testing.T, args []string, env map[string]string) (config.Config, error) {
	t.Helper()
	return config.Load(args, func(k string) string { return env[k] }, io.Discard)
}

// TestRetentionDays: 30 days by default; 1–3650 from the environment or
// the flag (the flag wins); anything else is an error naming the setting.
func TestRetentionDays(t *testing.T) {
	t.Parallel()
	cfg, err := load(t, nil, nil)
	require.NoError(t, err)
	require.Equal(t, config.DefaultRetentionDays, cfg.RetentionDays)
	require.Equal(t, 30*24*time.Hour, cfg.Retention())
	require.Equal(t, 30*24*time.Hour, config.Config{}.Retention(), "the zero value keeps the default")

	for in, want := range map[string]int{"1": 1, " 90 ": 90, "3650": 3650} {
		cfg, err := load(t, nil, map[string]string{"LATCHKEY_RETENTION_DAYS": in})
		require.NoError(t, err, in)
		require.Equal(t, want, cfg.RetentionDays, in)
	}
	cfg, err = load(t, []string{"--retention-days", "7"}, map[string]string{"LATCHKEY_RETENTION_DAYS": "90"})
	require.NoError(t, err)
	require.Equal(t, 7*24*time.Hour, cfg.Retention())

	for _, in := range []string{"0", "-1", "3651", "30d", "1.5", "forever"} {
		_, err := load(t, nil, map[string]string{"LATCHKEY_RETENTION_DAYS": in})
		require.ErrorContains(t, err, `LATCHKEY_RETENTION_DAYS "`+in+`": want a whole number of days from 1 to 3650`, in)
	}
}
