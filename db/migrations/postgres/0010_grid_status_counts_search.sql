-- The end-user grid at 100,000 end users in a tenant (BenchmarkGrid in
-- app/grid_bench_test.go): the self-serve status as a column, totals that
-- need no scan, and substring search through a trigram index.

-- The derived self-serve status (enduser.Status; the same CASE as
-- enduser.StatusSQL): 0 not registered, 1 registration complete (email and
-- mobile present), 2 accessed self-serve. Adding it rewrites the table once
-- (every page then has the fillfactor of 0008).
ALTER TABLE end_users ADD COLUMN status SMALLINT NOT NULL
    GENERATED ALWAYS AS (CASE WHEN first_access_at IS NOT NULL THEN 2 WHEN email <> '' AND mobile <> '' THEN 1 ELSE 0 END) STORED;
CREATE INDEX end_users_tenant_status_idx ON end_users (tenant_id, status, id);
-- Counting the end users whose password expires within some days can read
-- this index alone (customer_id for the archived customers, and the filters).
DROP INDEX end_users_tenant_expiry_idx;
CREATE INDEX end_users_tenant_expiry_idx ON end_users (tenant_id, password_expires_at, customer_id, status, source, locked);
-- No index names self_serve_enabled: switching self-serve (alone or for
-- 10,000 end users at once) then stays a HOT update that touches no index
-- (with such an index, a bulk switch of 10,000 took 450–900 ms instead of
-- about 50 ms).

-- Enabling self-serve in bulk leaves privileged accounts off and counts
-- them: a partial index finds the few there are.
CREATE INDEX end_users_privileged_idx ON end_users (tenant_id, customer_id) WHERE privileged;

-- How many end users there are per customer and per value of the grid's
-- filters that are columns (status, self-serve switch, source, locked), and
-- the same per tenant: the grid's "N matching" and the customer list's
-- counts add up a few of these rows instead of counting end users (a
-- tenant-wide total reads at most 60 rows of end_user_totals, less the
-- rows of end_user_counts of its archived customers). Statement-level
-- triggers keep both exact in the same transaction as every write to
-- end_users, whoever makes it: one aggregated statement per table and write
-- statement, touching its rows in key order. Rows that reach zero stay;
-- deleting a customer removes its rows.
CREATE TABLE end_user_counts (
    tenant_id          TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    customer_id        TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    status             SMALLINT NOT NULL,
    self_serve_enabled BOOLEAN NOT NULL,
    source             TEXT NOT NULL,
    locked             BOOLEAN NOT NULL,
    n                  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, customer_id, status, self_serve_enabled, source, locked)
);
CREATE INDEX end_user_counts_customer_idx ON end_user_counts (customer_id); -- deleting a customer

CREATE TABLE end_user_totals (
    tenant_id          TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    status             SMALLINT NOT NULL,
    self_serve_enabled BOOLEAN NOT NULL,
    source             TEXT NOT NULL,
    locked             BOOLEAN NOT NULL,
    n                  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, status, self_serve_enabled, source, locked)
);

INSERT INTO end_user_counts (tenant_id, customer_id, status, self_serve_enabled, source, locked, n)
SELECT tenant_id, customer_id, status, self_serve_enabled, source, locked, count(*)
FROM end_users GROUP BY tenant_id, customer_id, status, self_serve_enabled, source, locked;

INSERT INTO end_user_totals (tenant_id, status, self_serve_enabled, source, locked, n)
SELECT tenant_id, status, self_serve_enabled, source, locked, count(*)
FROM end_users GROUP BY tenant_id, status, self_serve_enabled, source, locked;

CREATE FUNCTION end_user_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        -- UPDATEs, never INSERTs: when a tenant is deleted, its end users go
        -- with it and their count rows may already be gone.
        UPDATE end_user_counts AS k SET n = k.n - c.n
        FROM (SELECT tenant_id, customer_id, status, self_serve_enabled, source, locked, count(*) AS n
              FROM old_rows GROUP BY tenant_id, customer_id, status, self_serve_enabled, source, locked) AS c
        WHERE k.tenant_id = c.tenant_id AND k.customer_id = c.customer_id AND k.status = c.status
          AND k.self_serve_enabled = c.self_serve_enabled AND k.source = c.source AND k.locked = c.locked;
        UPDATE end_user_totals AS k SET n = k.n - c.n
        FROM (SELECT tenant_id, status, self_serve_enabled, source, locked, count(*) AS n
              FROM old_rows GROUP BY tenant_id, status, self_serve_enabled, source, locked) AS c
        WHERE k.tenant_id = c.tenant_id AND k.status = c.status
          AND k.self_serve_enabled = c.self_serve_enabled AND k.source = c.source AND k.locked = c.locked;
        RETURN NULL;
    END IF;
    -- The changes per customer and value (deltas), then both tables in one
    -- statement (a data-modifying WITH runs whether or not it is read).
    IF TG_OP = 'INSERT' THEN
        WITH deltas AS (
            SELECT tenant_id, customer_id, status, self_serve_enabled, source, locked, count(*) AS d
            FROM new_rows GROUP BY tenant_id, customer_id, status, self_serve_enabled, source, locked
        ),
        counts AS (
            INSERT INTO end_user_counts AS k (tenant_id, customer_id, status, self_serve_enabled, source, locked, n)
            SELECT tenant_id, customer_id, status, self_serve_enabled, source, locked, d FROM deltas
            ORDER BY tenant_id, customer_id, status, self_serve_enabled, source, locked
            ON CONFLICT (tenant_id, customer_id, status, self_serve_enabled, source, locked) DO UPDATE SET n = k.n + excluded.n
        )
        INSERT INTO end_user_totals AS k (tenant_id, status, self_serve_enabled, source, locked, n)
        SELECT tenant_id, status, self_serve_enabled, source, locked, sum(d) FROM deltas
        GROUP BY tenant_id, status, self_serve_enabled, source, locked HAVING sum(d) <> 0
        ORDER BY tenant_id, status, self_serve_enabled, source, locked
        ON CONFLICT (tenant_id, status, self_serve_enabled, source, locked) DO UPDATE SET n = k.n + excluded.n;
    ELSE
        WITH deltas AS (
            SELECT tenant_id, customer_id, status, self_serve_enabled, source, locked, sum(d) AS d
            FROM (SELECT tenant_id, customer_id, status, self_serve_enabled, source, locked, -1 AS d FROM old_rows
                  UNION ALL
                  SELECT tenant_id, customer_id, status, self_serve_enabled, source, locked, 1 AS d FROM new_rows) AS c
            GROUP BY tenant_id, customer_id, status, self_serve_enabled, source, locked
            HAVING sum(d) <> 0
        ),
        counts AS (
            INSERT INTO end_user_counts AS k (tenant_id, customer_id, status, self_serve_enabled, source, locked, n)
            SELECT tenant_id, customer_id, status, self_serve_enabled, source, locked, d FROM deltas
            ORDER BY tenant_id, customer_id, status, self_serve_enabled, source, locked
            ON CONFLICT (tenant_id, customer_id, status, self_serve_enabled, source, locked) DO UPDATE SET n = k.n + excluded.n
        )
        INSERT INTO end_user_totals AS k (tenant_id, status, self_serve_enabled, source, locked, n)
        SELECT tenant_id, status, self_serve_enabled, source, locked, sum(d) FROM deltas
        GROUP BY tenant_id, status, self_serve_enabled, source, locked HAVING sum(d) <> 0
        ORDER BY tenant_id, status, self_serve_enabled, source, locked
        ON CONFLICT (tenant_id, status, self_serve_enabled, source, locked) DO UPDATE SET n = k.n + excluded.n;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER end_user_counts_insert AFTER INSERT ON end_users
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION end_user_counts_apply();
CREATE TRIGGER end_user_counts_update AFTER UPDATE ON end_users
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION end_user_counts_apply();
CREATE TRIGGER end_user_counts_delete AFTER DELETE ON end_users
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION end_user_counts_apply();

-- Substring search over name ("first last"), username and email: a trigram
-- index (pg_trgm, shipped with PostgreSQL and a trusted extension, so the
-- database's owner may create it) over the lowered fields joined by spaces.
-- The grid's search adds a LIKE on this expression, which the index answers
-- for terms of three or more characters, to its LIKE conditions on each field,
-- which decide; results are exactly those of the LIKE search.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX end_users_search_idx ON end_users
    USING gin ((lower(first_name || ' ' || last_name || ' ' || username || ' ' || email)) gin_trgm_ops);
