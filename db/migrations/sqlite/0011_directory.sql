-- Directory agents (latchkey-agent at a customer site), their install tokens,
-- each customer's directory settings, the tasks agents carry out, and imports.

CREATE TABLE agent_install_tokens (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,  -- SHA-256 of the token shown once
    created_by  TEXT NOT NULL DEFAULT '',
    expires_at  TIMESTAMP NOT NULL,
    used_at     TIMESTAMP,
    agent_id    TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX agent_install_tokens_customer_idx ON agent_install_tokens (customer_id);

CREATE TABLE agents (
    id                   TEXT PRIMARY KEY,
    tenant_id            TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    customer_id          TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    credential_hash      TEXT NOT NULL UNIQUE, -- SHA-256 of the agent's credential
    hostname             TEXT NOT NULL DEFAULT '',
    version              TEXT NOT NULL DEFAULT '',
    os                   TEXT NOT NULL DEFAULT '',
    last_seen_at         TIMESTAMP,
    directory_ok         BOOLEAN NOT NULL DEFAULT FALSE,
    directory_error      TEXT NOT NULL DEFAULT '',
    directory_checked_at TIMESTAMP,
    enrolled_at          TIMESTAMP NOT NULL,
    revoked_at           TIMESTAMP,
    revoked_by           TEXT NOT NULL DEFAULT ''
);
CREATE INDEX agents_customer_idx ON agents (customer_id, revoked_at);

CREATE TABLE directory_settings (
    customer_id         TEXT PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    tenant_id           TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    url                 TEXT NOT NULL,
    start_tls           BOOLEAN NOT NULL DEFAULT FALSE,
    bind_user           TEXT NOT NULL,
    bind_password       BLOB,              -- encrypted (app/secret)
    base_dn             TEXT NOT NULL,
    scope_kind          TEXT NOT NULL DEFAULT 'base', -- base, ou, group
    scope_dn            TEXT NOT NULL DEFAULT '',
    ca_cert_pem         TEXT NOT NULL DEFAULT '',
    skip_verify         BOOLEAN NOT NULL DEFAULT FALSE,
    auto_import         BOOLEAN NOT NULL DEFAULT TRUE,
    import_interval_min INTEGER NOT NULL DEFAULT 180,
    enable_new_users    BOOLEAN NOT NULL DEFAULT FALSE, -- self-serve for users new in automatic imports
    version             INTEGER NOT NULL DEFAULT 1,     -- bumped on change; agents refetch
    policy_json         TEXT NOT NULL DEFAULT '',       -- the domain policy seen by the last import
    next_import_at      TIMESTAMP,
    last_import_at      TIMESTAMP,
    updated_at          TIMESTAMP NOT NULL
);
CREATE INDEX directory_settings_next_idx ON directory_settings (next_import_at);

CREATE TABLE directory_tasks (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    customer_id   TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    end_user_id   TEXT NOT NULL DEFAULT '',
    kind          TEXT NOT NULL,            -- check, import, reset, unlock, policy
    state         TEXT NOT NULL,            -- queued, sent, done, failed, expired
    params        TEXT NOT NULL DEFAULT '{}', -- JSON, never a secret
    secret        BLOB,                    -- encrypted password; NULL once the task ends
    agent_id      TEXT NOT NULL DEFAULT '',
    result        TEXT NOT NULL DEFAULT '',  -- JSON
    error_kind    TEXT NOT NULL DEFAULT '',
    error_message TEXT NOT NULL DEFAULT '',
    created_by    TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMP NOT NULL,
    pickup_by     TIMESTAMP NOT NULL,      -- queued → expired after this
    sent_at       TIMESTAMP,
    finish_by     TIMESTAMP,               -- sent → failed (timed out) after this
    finished_at   TIMESTAMP
);
CREATE INDEX directory_tasks_queue_idx ON directory_tasks (customer_id, state, created_at);
CREATE INDEX directory_tasks_open_idx ON directory_tasks (state, pickup_by);

CREATE TABLE directory_imports (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    customer_id      TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    task_id          TEXT NOT NULL,
    trigger          TEXT NOT NULL,            -- auto, manual
    state            TEXT NOT NULL,            -- waiting, preview, applied, discarded, failed
    payload          BLOB,                    -- gzip JSON of the directory's users; NULL once applied
    enable_self_serve BOOLEAN NOT NULL DEFAULT FALSE,
    total            INTEGER NOT NULL DEFAULT 0,
    created          INTEGER NOT NULL DEFAULT 0,
    updated          INTEGER NOT NULL DEFAULT 0,
    unchanged        INTEGER NOT NULL DEFAULT 0,
    gone             INTEGER NOT NULL DEFAULT 0,
    error_message    TEXT NOT NULL DEFAULT '',
    created_by       TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMP NOT NULL,
    received_at      TIMESTAMP,
    applied_at       TIMESTAMP
);
CREATE INDEX directory_imports_customer_idx ON directory_imports (customer_id, created_at);
CREATE UNIQUE INDEX directory_imports_task_key ON directory_imports (task_id);

-- Lockouts seen by an import or reported by the agent: one row per lockout
-- (the notifications issue sends them).
CREATE TABLE lockout_events (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    customer_id  TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    end_user_id  TEXT NOT NULL REFERENCES end_users (id) ON DELETE CASCADE,
    locked_at    TIMESTAMP NOT NULL,  -- the directory's lockoutTime
    source       TEXT NOT NULL,         -- import, agent
    created_at   TIMESTAMP NOT NULL,
    notified_at  TIMESTAMP
);
CREATE UNIQUE INDEX lockout_events_once_key ON lockout_events (end_user_id, locked_at);

-- Directory facts kept per end user.
ALTER TABLE end_users ADD COLUMN dn TEXT NOT NULL DEFAULT '';
ALTER TABLE end_users ADD COLUMN upn TEXT NOT NULL DEFAULT '';
ALTER TABLE end_users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE end_users ADD COLUMN must_change BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE end_users ADD COLUMN password_last_set_at TIMESTAMP;
ALTER TABLE end_users ADD COLUMN locked_at TIMESTAMP;
ALTER TABLE end_users ADD COLUMN privileged_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE end_users ADD COLUMN dir_email TEXT NOT NULL DEFAULT '';  -- last value the directory had
ALTER TABLE end_users ADD COLUMN dir_mobile TEXT NOT NULL DEFAULT '';
CREATE INDEX end_users_customer_external_idx ON end_users (customer_id, external_id);
