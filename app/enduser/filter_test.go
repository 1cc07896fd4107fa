package enduser_test

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/latchkey/latchkey/app/enduser"
)

func TestFilterRoundTripsThroughTheURL(t *testing.T) {
	t.Parallel()
	v := url.Values{"customer": {"c1"}, "q": {"ann"}, "status": {"registered"}, "self_serve": {"on"}, "source": {"ad"},
		"locked": {"yes"}, "expiring": {"10"}, "sort": {"expires"}, "dir": {"desc"}, "page": {"3"}}
	f := enduser.Parse(v)
	require.Equal(t, enduser.Filter{CustomerID: "c1", Query: "ann", Status: "registered", SelfServe: "on", Source: "ad", Locked: "yes",
		Expiring: 10, Sort: "expires", Desc: true, Page: 3, PerPage: enduser.DefaultPerPage}, f)
	require.Equal(t, v, f.Values(true))
	require.Equal(t, "", f.Values(false).Get("customer"))

	bad := enduser.Parse(url.Values{"status": {"x"}, "sort": {"password_hash; drop"}, "expiring": {"-1"}, "page": {"0"}, "source": {"other"}})
	require.Equal(t, enduser.Filter{Page: 1, PerPage: enduser.DefaultPerPage}, bad, "unknown values are ignored, never passed to SQL")
	require.Equal(t, "all end users", bad.Describe())
}

func TestParseSelection(t *testing.T) {
	t.Parallel()
	s := enduser.ParseSelection(url.Values{"ids": {"a", "b", "a", " "}})
	require.Equal(t, []string{"a", "b"}, s.IDs)
	require.False(t, s.All)
	s = enduser.ParseSelection(url.Values{"all": {"1"}, "ids": {"a"}, "status": {"accessed"}})
	require.True(t, s.All)
	require.Empty(t, s.IDs)
	require.Equal(t, "accessed", s.Filter.Status)
	require.True(t, enduser.ParseSelection(url.Values{}).Empty())
}
