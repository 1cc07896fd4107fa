package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"

	"github.com/uptrace/bun"
)

// verifyChunk is how many events Verify reads per query.
const verifyChunk = 1000

// VerifyResult is the outcome of checking one tenant's chain.
type VerifyResult struct {
	OK       bool
	Checked  int    // events read
	BrokenAt int64  // sequence number of the first event found wrong (or missing); 0 when OK
	Reason   string // why the chain is broken; "" when OK
}

func broken(checked int, seq int64, format string, args ...any) VerifyResult {
	return VerifyResult{Checked: checked, BrokenAt: seq, Reason: fmt.Sprintf(format, args...)}
}

// Verify walks the tenant's audit trail in sequence order and checks that
// each event's hash matches its content, that it links to the previous
// event's hash, that sequence numbers run from 1 without gaps, and that the
// chain head (audit_heads) names the last event. This detects edited,
// deleted, inserted and reordered rows, and deleted rows at the end. It reads
// the trail in pages, so memory does not grow with its length.
//
// Someone with write access to the database who rewrites every later hash
// and the head as well is not detected; comparing the head hash with a copy
// kept elsewhere (e.g. an earlier `latchkey audit-verify` output) is.
func Verify(ctx context.Context, idb bun.IDB, tenantID string) (VerifyResult, error) {
	var h head
	hasHead := true
	if err := idb.NewSelect().Model(&h).Where("tenant_id = ?", tenantID).Scan(ctx); errors.Is(err, sql.ErrNoRows) {
		hasHead = false
	} else if err != nil {
		return VerifyResult{}, fmt.Errorf("audit: verify: read head: %w", err)
	}

	var (
		checked  int
		lastSeq  int64
		lastHash string
	)
	for {
		var events []Event
		if err := idb.NewSelect().Model(&events).Where("tenant_id = ?", tenantID).Where("seq > ?", lastSeq).
			OrderExpr("seq ASC").Limit(verifyChunk).Scan(ctx); err != nil {
			return VerifyResult{}, fmt.Errorf("audit: verify: %w", err)
		}
		for i := range events {
			e := &events[i]
			checked++
			switch {
			case e.Seq != lastSeq+1:
				return broken(checked, lastSeq+1, "event #%d is missing (the next event is #%d)", lastSeq+1, e.Seq), nil
			case e.PrevHash != lastHash:
				return broken(checked, e.Seq, "event #%d does not link to the event before it", e.Seq), nil
			case e.ComputeHash() != e.Hash:
				return broken(checked, e.Seq, "event #%d was changed after it was recorded", e.Seq), nil
			}
			lastSeq, lastHash = e.Seq, e.Hash
		}
		if len(events) < verifyChunk {
			break
		}
	}

	switch {
	case !hasHead && checked == 0:
		return VerifyResult{OK: true}, nil
	case !hasHead:
		return broken(checked, 1, "the chain head is missing"), nil
	case h.Seq > lastSeq:
		return broken(checked, lastSeq+1, "events #%d to #%d are missing (the chain head is at #%d)", lastSeq+1, h.Seq, h.Seq), nil
	case h.Seq < lastSeq:
		return broken(checked, h.Seq+1, "event #%d and later are not part of the chain (the chain head is at #%d)", h.Seq+1, h.Seq), nil
	case h.Hash != lastHash:
		return broken(checked, lastSeq, "event #%d does not match the chain head", lastSeq), nil
	}
	return VerifyResult{OK: true, Checked: checked}, nil
}

// TenantResult is Verify's outcome for one tenant.
type TenantResult struct {
	TenantID   string
	TenantName string // "" when the tenant row is gone but events remain
	VerifyResult
}

// VerifyAll verifies the chain of every tenant, and of any tenant id that
// has events or a chain head but no tenant row, ordered by tenant name.
func VerifyAll(ctx context.Context, idb bun.IDB) ([]TenantResult, error) {
	var tenants []struct {
		ID   string `bun:"id"`
		Name string `bun:"name"`
	}
	if err := idb.NewSelect().Table("tenants").Column("id", "name").Scan(ctx, &tenants); err != nil {
		return nil, fmt.Errorf("audit: verify all: tenants: %w", err)
	}
	names := map[string]string{}
	for _, t := range tenants {
		names[t.ID] = t.Name
	}
	var heads, withEvents []string
	if err := idb.NewSelect().Model((*head)(nil)).Column("tenant_id").Scan(ctx, &heads); err != nil {
		return nil, fmt.Errorf("audit: verify all: heads: %w", err)
	}
	if err := idb.NewSelect().Model((*Event)(nil)).ColumnExpr("DISTINCT tenant_id").Scan(ctx, &withEvents); err != nil {
		return nil, fmt.Errorf("audit: verify all: events: %w", err)
	}
	ids := map[string]bool{}
	for _, t := range tenants {
		ids[t.ID] = true
	}
	for _, id := range append(heads, withEvents...) {
		ids[id] = true
	}
	out := make([]TenantResult, 0, len(ids))
	for id := range ids {
		r, err := Verify(ctx, idb, id)
		if err != nil {
			return nil, err
		}
		out = append(out, TenantResult{TenantID: id, TenantName: names[id], VerifyResult: r})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].TenantName != out[j].TenantName {
			return out[i].TenantName < out[j].TenantName
		}
		return out[i].TenantID < out[j].TenantID
	})
	return out, nil
}
