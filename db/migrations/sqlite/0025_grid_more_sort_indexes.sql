-- The tenant-wide grid sorted by mobile, source or locked read and sorted
-- every end user of the tenant for each page (BenchmarkGrid at 100,000 end
-- users, "sort by mobile" and "locked=no, sort by source": p50 97 / 102 ms
-- on SQLite, 60 / 59 ms on PostgreSQL; with these indexes 1.3 / 1.3 ms and
-- 1.1 / 1.1 ms). They keep those orders, id last as the grid's tie-break.
-- Writes pay: importing 10,000 new end users went from 0.74 to 0.95 s on
-- SQLite and 0.69 to 0.87 s on PostgreSQL (one run each; the issue's budget
-- is 5 s). None of their columns changes when
-- self-serve is switched (bulk switches stay HOT on PostgreSQL). Sorting by
-- self-serve (which bulk switches change) and by customer (another table)
-- still sorts; a customer's grid reads only its own end users for them
-- (Filter.wherePage).
CREATE INDEX end_users_tenant_mobile_idx ON end_users (tenant_id, mobile, id);
CREATE INDEX end_users_tenant_source_idx ON end_users (tenant_id, source, id);
CREATE INDEX end_users_tenant_locked_idx ON end_users (tenant_id, locked, id);
