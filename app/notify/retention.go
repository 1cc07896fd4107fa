package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/db"
)

// Finished are the statuses of messages that nothing delivers or changes
// any more (every status change starts from queued or sending): sent,
// failed and outbox. Prune deletes old ones.
//
// An outbox message (an email, text message or push kept because no
// provider is set up) is never sent later; it waits only to be read under
// Settings → Outbox. Its codes expire within minutes and its links within
// days (enrolment links: 7), so after the retention period it is useless
// and goes like a sent one. Queued and sending messages are never deleted,
// however old: a delivery attempt may still claim or finish them.
var Finished = []string{StatusSent, StatusFailed, StatusOutbox}

// Prune deletes the finished messages (Finished) of every tenant created
// before `before`, batch rows per statement (db.DeleteInBatches), and
// returns how many it deleted.
//
// Rows that name a message (notices' *_message_id, verifications'
// push_messages) have no foreign key to it: their readers take a missing
// message as one no longer kept (notice.History leaves its delivery out).
func Prune(ctx context.Context, idb bun.IDB, before time.Time, batch int) (int, error) {
	n, err := db.DeleteInBatches(ctx, idb, "messages", "created_at",
		"created_at < ? AND status IN (?)", []any{before.UTC(), bun.In(Finished)}, batch)
	if err != nil {
		return n, fmt.Errorf("notify: prune: %w", err)
	}
	return n, nil
}
