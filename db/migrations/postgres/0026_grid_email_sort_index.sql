-- The grid sorted by email orders by lower(email) then id (the tie-break
-- that keeps pages stable), but 0006's email index stopped at lower(email):
-- SQLite sorted the tenant's end users again for every page ("USE TEMP
-- B-TREE FOR LAST TERM OF ORDER BY"), PostgreSQL planned a Sort or an
-- Incremental Sort (TestPostgresGridPlans caught it). With id in the index the rows come in the grid's order. Lookups by
-- email (self-serve sign-in) use the same two leading columns as before.
-- SQLite at 100,000 end users, the grid's statement (p50): sorted by email,
-- page 1, 31 ms -> 0.2 ms; self-serve off, page 40, 30 -> 12 ms.
DROP INDEX end_users_tenant_email_idx;
CREATE INDEX end_users_tenant_email_idx ON end_users (tenant_id, lower(email), id);
