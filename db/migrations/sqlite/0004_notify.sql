-- Email delivery: when a send attempt claimed a message (status 'sending'),
-- so that a retry after a crash can tell a stale claim from a live one.
ALTER TABLE messages ADD COLUMN claimed_at TIMESTAMP;
