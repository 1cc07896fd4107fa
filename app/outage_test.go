package app_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/apptest"
	"github.com/latchkey/latchkey/app/config"
	"github.com/latchkey/latchkey/db"
	"github.com/latchkey/latchkey/db/dbtest"
)

// TestDatabaseOutageAnswers503AndRecovers stops PostgreSQL under a running
// server: requests get 503 (not a crash, not a 500), and once the database is
// back the same server and the same signed-in session work again.
func TestDatabaseOutageAnswers503AndRecovers(t *testing.T) {
	t.Parallel()
	cluster := dbtest.NewCluster(t)
	dbURL := cluster.CreateDatabase(t, "outage")
	env := apptest.New(t, db.SQLite, apptest.Options{Configure: func(c *config.Config) { c.DatabaseURL = dbURL }})
	require.Equal(t, db.Postgres, env.App.DB.Dialect)
	f := env.Setup("Acme IT")
	c := env.Client()
	c.SignIn(f.Primary.Email)
	require.Equal(t, http.StatusOK, c.Get("/").StatusCode)

	cluster.Stop()
	require.Equal(t, http.StatusServiceUnavailable, c.Get("/readyz").StatusCode)
	require.Equal(t, http.StatusOK, c.Get("/healthz").StatusCode, "the process itself is alive")
	res := c.Get("/")
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	other := env.Client()
	res = other.PostForm("/signin", url.Values{"_csrf": {"x"}, "email": {f.Primary.Email}, "password": {apptest.Password}})
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)

	require.NoError(t, cluster.Start())
	apptest.WaitFor(t, 30*time.Second, func() bool { return c.Get("/readyz").StatusCode == http.StatusOK }, "readyz after restart")
	require.Equal(t, http.StatusOK, c.Get("/").StatusCode, "the session survived the outage")
}
