-- The end-user grid at 100,000 end users in a tenant (BenchmarkGrid in
-- app/grid_bench_test.go): the self-serve status as a column, totals that
-- need no scan, and substring search through a trigram index.

-- The derived self-serve status (enduser.Status; the same CASE as
-- enduser.StatusSQL): 0 not registered, 1 registration complete (email and
-- mobile present), 2 accessed self-serve. SQLite cannot add a STORED column
-- to an existing table; a VIRTUAL one costs nothing to store and is
-- materialised by the indexes that name it. Queries read the column, never
-- its CASE: SQLite 3.53 gets the CASE wrong in a GROUP BY that reads
-- end_users_tenant_status_idx (it answered 0 for every customer).
ALTER TABLE end_users ADD COLUMN status INTEGER
    GENERATED ALWAYS AS (CASE WHEN first_access_at IS NOT NULL THEN 2 WHEN email <> '' AND mobile <> '' THEN 1 ELSE 0 END) VIRTUAL;
CREATE INDEX end_users_tenant_status_idx ON end_users (tenant_id, status, id);
-- Counting the end users whose password expires within some days reads
-- this index alone (customer_id for the archived customers, source and
-- locked for those filters): 1 ms rather than 15 ms for a week at 100,000.
DROP INDEX end_users_tenant_expiry_idx;
CREATE INDEX end_users_tenant_expiry_idx ON end_users (tenant_id, password_expires_at, customer_id, source, locked);

-- Enabling self-serve in bulk leaves privileged accounts off and counts
-- them: a partial index finds the few there are.
CREATE INDEX end_users_privileged_idx ON end_users (tenant_id, customer_id) WHERE privileged;

-- How many end users there are per customer and per value of the grid's
-- filters that are columns (status, self-serve switch, source, locked), and
-- the same per tenant: the grid's "N matching" and the customer list's
-- counts add up a few of these rows instead of counting end users (a
-- tenant-wide total reads at most 60 rows of end_user_totals, less the
-- rows of end_user_counts of its archived customers). Triggers keep both
-- exact in the same transaction as every write to end_users, whoever makes
-- it. Rows that reach zero stay; deleting a customer removes its rows.
CREATE TABLE end_user_counts (
    tenant_id          TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    customer_id        TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    status             INTEGER NOT NULL,
    self_serve_enabled BOOLEAN NOT NULL,
    source             TEXT NOT NULL,
    locked             BOOLEAN NOT NULL,
    n                  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, customer_id, status, self_serve_enabled, source, locked)
) WITHOUT ROWID;
CREATE INDEX end_user_counts_customer_idx ON end_user_counts (customer_id); -- deleting a customer

CREATE TABLE end_user_totals (
    tenant_id          TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    status             INTEGER NOT NULL,
    self_serve_enabled BOOLEAN NOT NULL,
    source             TEXT NOT NULL,
    locked             BOOLEAN NOT NULL,
    n                  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, status, self_serve_enabled, source, locked)
) WITHOUT ROWID;

INSERT INTO end_user_counts (tenant_id, customer_id, status, self_serve_enabled, source, locked, n)
SELECT tenant_id, customer_id, status, self_serve_enabled, source, locked, count(*)
FROM end_users GROUP BY tenant_id, customer_id, status, self_serve_enabled, source, locked;

INSERT INTO end_user_totals (tenant_id, status, self_serve_enabled, source, locked, n)
SELECT tenant_id, status, self_serve_enabled, source, locked, count(*)
FROM end_users GROUP BY tenant_id, status, self_serve_enabled, source, locked;

CREATE TRIGGER end_user_counts_insert AFTER INSERT ON end_users BEGIN
    INSERT INTO end_user_counts (tenant_id, customer_id, status, self_serve_enabled, source, locked, n)
    VALUES (new.tenant_id, new.customer_id, new.status, new.self_serve_enabled, new.source, new.locked, 1)
    ON CONFLICT (tenant_id, customer_id, status, self_serve_enabled, source, locked) DO UPDATE SET n = n + 1;
    INSERT INTO end_user_totals (tenant_id, status, self_serve_enabled, source, locked, n)
    VALUES (new.tenant_id, new.status, new.self_serve_enabled, new.source, new.locked, 1)
    ON CONFLICT (tenant_id, status, self_serve_enabled, source, locked) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER end_user_counts_delete AFTER DELETE ON end_users BEGIN
    UPDATE end_user_counts SET n = n - 1
    WHERE tenant_id = old.tenant_id AND customer_id = old.customer_id AND status = old.status
      AND self_serve_enabled = old.self_serve_enabled AND source = old.source AND locked = old.locked;
    UPDATE end_user_totals SET n = n - 1
    WHERE tenant_id = old.tenant_id AND status = old.status
      AND self_serve_enabled = old.self_serve_enabled AND source = old.source AND locked = old.locked;
END;

CREATE TRIGGER end_user_counts_update
AFTER UPDATE OF tenant_id, customer_id, email, mobile, first_access_at, self_serve_enabled, source, locked ON end_users
WHEN old.tenant_id IS NOT new.tenant_id OR old.customer_id IS NOT new.customer_id OR old.status IS NOT new.status
  OR old.self_serve_enabled IS NOT new.self_serve_enabled OR old.source IS NOT new.source OR old.locked IS NOT new.locked
BEGIN
    UPDATE end_user_counts SET n = n - 1
    WHERE tenant_id = old.tenant_id AND customer_id = old.customer_id AND status = old.status
      AND self_serve_enabled = old.self_serve_enabled AND source = old.source AND locked = old.locked;
    INSERT INTO end_user_counts (tenant_id, customer_id, status, self_serve_enabled, source, locked, n)
    VALUES (new.tenant_id, new.customer_id, new.status, new.self_serve_enabled, new.source, new.locked, 1)
    ON CONFLICT (tenant_id, customer_id, status, self_serve_enabled, source, locked) DO UPDATE SET n = n + 1;
    UPDATE end_user_totals SET n = n - 1
    WHERE tenant_id = old.tenant_id AND status = old.status
      AND self_serve_enabled = old.self_serve_enabled AND source = old.source AND locked = old.locked;
    INSERT INTO end_user_totals (tenant_id, status, self_serve_enabled, source, locked, n)
    VALUES (new.tenant_id, new.status, new.self_serve_enabled, new.source, new.locked, 1)
    ON CONFLICT (tenant_id, status, self_serve_enabled, source, locked) DO UPDATE SET n = n + 1;
END;

-- Substring search over name ("first last"), username and email: an FTS5
-- index of trigrams (case-insensitive), which finds any term of three or
-- more characters without reading every end user. It is contentless with
-- delete support (SQLite 3.43+): it keeps only the index, keyed by the end
-- user's rowid, and triggers keep it in step. The grid still checks its
-- LIKE conditions on the rows it finds, so results are exactly those of the
-- LIKE search. VACUUM keeps the rowids of a table with indexes (TestGridSearch
-- checks it); should this index ever disagree, rebuild it with:
--   DELETE FROM end_users_search;
--   INSERT INTO end_users_search (rowid, name, username, email)
--   SELECT rowid, first_name || ' ' || last_name, username, email FROM end_users;
CREATE VIRTUAL TABLE end_users_search USING fts5 (
    name, username, email,
    content = '', contentless_delete = 1, tokenize = 'trigram'
);

INSERT INTO end_users_search (rowid, name, username, email)
SELECT rowid, first_name || ' ' || last_name, username, email FROM end_users;

CREATE TRIGGER end_users_search_insert AFTER INSERT ON end_users BEGIN
    INSERT INTO end_users_search (rowid, name, username, email)
    VALUES (new.rowid, new.first_name || ' ' || new.last_name, new.username, new.email);
END;

CREATE TRIGGER end_users_search_delete AFTER DELETE ON end_users BEGIN
    DELETE FROM end_users_search WHERE rowid = old.rowid;
END;

CREATE TRIGGER end_users_search_update AFTER UPDATE OF first_name, last_name, username, email ON end_users
WHEN old.first_name IS NOT new.first_name OR old.last_name IS NOT new.last_name
  OR old.username IS NOT new.username OR old.email IS NOT new.email
BEGIN
    DELETE FROM end_users_search WHERE rowid = old.rowid;
    INSERT INTO end_users_search (rowid, name, username, email)
    VALUES (new.rowid, new.first_name || ' ' || new.last_name, new.username, new.email);
END;
