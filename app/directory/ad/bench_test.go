package ad_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/latchkey/latchkey/app/directory/ad"
	"github.com/latchkey/latchkey/app/directory/ad/samba"
	"github.com/stretchr/testify/require"
)

const benchUsers = 5000

// BenchmarkPagedSearch imports 5,000 users from a real Samba DC over LDAPS
// (privileged-group resolution included): the floor an end-to-end import
// is measured against. The populated domain is cached per machine, so only
// the first run pays for creating the users.
func BenchmarkPagedSearch(b *testing.B) {
	dc := samba.Start(b, samba.WithUsers("Bench", benchUsers, "bench"))
	cfg := dc.Config()
	cfg.ScopeOU = "OU=Bench," + dc.BaseDN
	ctx := context.Background()
	conn, err := ad.Dial(ctx, cfg)
	require.NoError(b, err)
	defer conn.Close()

	for _, pageSize := range []int{500, 1000} {
		b.Run(fmt.Sprintf("page=%d", pageSize), func(b *testing.B) {
			total := 0
			for b.Loop() {
				n := 0
				require.NoError(b, conn.Users(ctx, pageSize, func(ad.User) error {
					n++
					return nil
				}))
				require.Equal(b, benchUsers, n)
				total += n
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "users/s")
		})
	}
}
