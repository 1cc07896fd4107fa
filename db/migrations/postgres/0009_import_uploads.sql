-- End-user CSV files between their preview and their confirmation. A file
-- (up to 10 MB) is kept server-side for 30 minutes rather than posted back by
-- the browser or stored in the session; the row is deleted when the import is
-- applied, and expired rows are removed whenever another file is uploaded.
CREATE TABLE import_uploads (
    id          TEXT PRIMARY KEY,  -- random (db.NewID): part of the confirm URL
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    login_id    TEXT NOT NULL REFERENCES logins (id) ON DELETE CASCADE,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    file_name   TEXT NOT NULL DEFAULT '',
    data        BYTEA NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX import_uploads_expires_idx ON import_uploads (expires_at);
