-- The tenant created by the first-run wizard. The single row (id = 1) makes
-- two simultaneous first visitors unable to create two tenants: the second
-- insert fails on the primary key.
CREATE TABLE installation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL
);
INSERT INTO installation (id, tenant_id, created_at)
    SELECT 1, id, created_at FROM tenants ORDER BY created_at LIMIT 1;
