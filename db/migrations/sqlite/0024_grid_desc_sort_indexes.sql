-- Descending sorts by the two nullable columns keep "never" (NULL) last, as
-- the ascending ones do: ORDER BY (x IS NULL) ASC, x DESC, id DESC. That
-- order mixes directions, so neither database could walk the ascending
-- indexes of 0008/0019 for it and both sorted every end user of the tenant
-- (or customer) for each page. These indexes hold the descending order.
-- Measured with BenchmarkGrid (app/grid_bench_test.go) at 100,000 end users,
-- page p50 / p95 before -> after:
--   status=registered, by password expiry desc:
--     SQLite 129 / 147 ms -> 1.1 / 2.2 ms; PostgreSQL 46 / 51 ms -> 1.5 / 2.8 ms
--   tenant-wide, by last self-serve access desc:
--     SQLite 89 / 110 ms -> 1.2 / 1.9 ms; PostgreSQL 61 / 75 ms -> 1.6 / 2.8 ms
--   one customer of 10,000, by password expiry desc:
--     SQLite 43 / 49 ms -> 1.3 / 2.1 ms; PostgreSQL 11 / 15 ms -> 1.7 / 4.5 ms
-- Writes pay for them: importing 10,000 new end users went from 0.61 to
-- 0.74 s on SQLite (one run each). Switching self-serve changes none of
-- their columns; see Filter.plan for the SQLite plan of a customer's bulk
-- switch, which these indexes had turned to a tenant-wide walk.
-- The tenant-wide expiry index carries status and customer_id, as 0019's
-- ascending one does, so that the status filter and archived customers
-- are checked in the index.
CREATE INDEX end_users_tenant_expires_desc_idx ON end_users (tenant_id, (password_expires_at IS NULL), password_expires_at DESC, id DESC, status, customer_id);
CREATE INDEX end_users_customer_expires_desc_idx ON end_users (customer_id, (password_expires_at IS NULL), password_expires_at DESC, id DESC);
CREATE INDEX end_users_tenant_access_desc_idx ON end_users (tenant_id, (last_access_at IS NULL), last_access_at DESC, id DESC);
