-- The retention job (jobs: retention) deletes finished messages older than
-- the retention period (LATCHKEY_RETENTION_DAYS) and notices of days
-- long past, in batches of 1,000, of every tenant at once. Each batch picks
-- the oldest rows; messages_tenant_created_idx and notices_once_key do not
-- lead with those columns, so without these indexes every batch read the
-- whole table. Measured with 200,000 of each, deleting about 18,000 old
-- ones (batches of 1,000; per batch): PostgreSQL messages 34 → 5 ms and
-- notices 33 → 7 ms; SQLite messages 15 → 11 ms (with one tenant it
-- already skip-scans messages_tenant_created_idx) and notices 108 → 50 ms.
CREATE INDEX messages_created_idx ON messages (created_at);
CREATE INDEX notices_day_idx ON notices (day);
