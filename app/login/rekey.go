package login

import (
	"context"
	"fmt"

	"github.com/latchkey/latchkey/db"
)

// Reencrypt re-encrypts every login's TOTP secrets that are not under the
// current key-encryption key (after a new key was put first in
// LATCHKEY_MASTER_KEY) and returns how many were rewritten. Each login is
// rewritten in its own transaction, so an interrupted run can be repeated.
func (s *Service) Reencrypt(ctx context.Context) (int, error) {
	var ids []string
	if err := s.db.Bun.NewSelect().Model((*Login)(nil)).Column("id").
		Where("totp_secret IS NOT NULL OR totp_pending IS NOT NULL").Scan(ctx, &ids); err != nil {
		return 0, fmt.Errorf("login: list secrets: %w", err)
	}
	n := 0
	for _, id := range ids {
		changed := false
		err := s.db.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			l, err := s.byID(ctx, tx, id)
			if err != nil {
				return err
			}
			q := tx.NewUpdate().Model((*Login)(nil)).Where("id = ?", l.ID)
			for _, f := range []struct {
				col string
				val []byte
			}{{"totp_secret", l.TOTPSecret}, {"totp_pending", l.TOTPPending}} {
				if len(f.val) == 0 || !s.keys.NeedsRotation(f.val) {
					continue
				}
				ct, err := s.keys.Reencrypt(f.val, aad(l))
				if err != nil {
					return fmt.Errorf("login: re-encrypt %s of %s: %w", f.col, l.ID, err)
				}
				q = q.Set(f.col+" = ?", ct)
				changed = true
			}
			if !changed {
				return nil
			}
			_, err = q.Exec(ctx)
			return err
		})
		if err != nil {
			return n, err
		}
		if changed {
			n++
		}
	}
	return n, nil
}
