package samba_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/latchkey/latchkey/app/directory/ad"
	"github.com/latchkey/latchkey/app/directory/ad/samba"
	"github.com/stretchr/testify/require"
)

func TestStartAndHelpers(t *testing.T) {
	t.Parallel()
	start := time.Now()
	dc := samba.Start(t)
	t.Logf("start: %v (host %s)", time.Since(start), dc.Host)

	ou := dc.CreateOU(t, "Harness")
	dn, guid := dc.CreateUser(t, ou, "harry", samba.UserOpts{First: "Harry", Last: "Harness"})
	require.NotEmpty(t, guid)
	require.NoError(t, dc.Bind("harry@"+dc.Realm, samba.DefaultPassword))
	require.ErrorIs(t, dc.Bind("harry@"+dc.Realm, "nope-Passw0rd!"), ad.KindInvalidCredentials)
	g := dc.CreateGroup(t, ou, "Harness Group", dn)
	require.Equal(t, []string{g}, dc.Attr(t, dn, "memberOf"))

	if os.Getenv("LATCHKEY_SAMBA_BULK") != "" {
		start = time.Now()
		dns := dc.CreateUsers(t, dc.CreateOU(t, "Bulk"), 2000, "bulk")
		t.Logf("CreateUsers 2000: %v", time.Since(start))
		require.Len(t, dns, 2000)
	}

	conn, err := ad.Dial(context.Background(), dc.Config())
	require.NoError(t, err)
	defer conn.Close()
}
