-- Identity verification (app/verify) and end users' enrolled devices
-- (app/device).

-- An end user's enrolled device: a phone or browser that holds a device
-- credential (a random secret given once at enrolment and kept in a
-- long-lived cookie; only its SHA-256 is stored), optionally with a web push
-- subscription. The approval page of a push verification requires it.
CREATE TABLE devices (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    customer_id     TEXT NOT NULL,
    end_user_id     TEXT NOT NULL REFERENCES end_users (id) ON DELETE CASCADE,
    credential_hash TEXT NOT NULL UNIQUE,
    label           TEXT NOT NULL DEFAULT '',
    user_agent      TEXT NOT NULL DEFAULT '',
    subscription_id TEXT REFERENCES push_subscriptions (id) ON DELETE SET NULL,
    created_at      TIMESTAMP NOT NULL,
    last_used_at    TIMESTAMP,
    revoked_at      TIMESTAMP,
    revoke_reason   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX devices_end_user_idx ON devices (tenant_id, end_user_id);

-- A tenant's verification settings; no row means the defaults.
CREATE TABLE verify_settings (
    tenant_id        TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    code_ttl_seconds INTEGER NOT NULL,
    number_matching  BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at       TIMESTAMP NOT NULL
);

-- One identity verification a technician started. code is the AES-256-GCM
-- ciphertext of the six digits (the technician's panel shows them), bound to
-- the tenant and the verification. version grows with every change: the
-- technician's live panel watches it. receipt is the short id technicians
-- paste into a ticket; the audit trail names it.
CREATE TABLE verifications (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    customer_id      TEXT NOT NULL,
    end_user_id      TEXT NOT NULL REFERENCES end_users (id) ON DELETE CASCADE,
    receipt          TEXT NOT NULL,
    requested_method TEXT NOT NULL,
    method           TEXT NOT NULL,
    fallback         TEXT NOT NULL DEFAULT '',
    destination      TEXT NOT NULL DEFAULT '',
    state            TEXT NOT NULL,
    reason           TEXT NOT NULL DEFAULT '',
    code             BLOB,
    match_number     INTEGER NOT NULL DEFAULT 0,
    match_choices    TEXT NOT NULL DEFAULT '',
    wrong_tries      INTEGER NOT NULL DEFAULT 0,
    push_messages    TEXT NOT NULL DEFAULT '',
    requested_by_id  TEXT NOT NULL DEFAULT '',
    requested_by     TEXT NOT NULL DEFAULT '',
    responded_at     TIMESTAMP,
    decided_at       TIMESTAMP,
    decided_by       TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMP NOT NULL,
    expires_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    version          INTEGER NOT NULL DEFAULT 1,
    UNIQUE (tenant_id, receipt)
);
CREATE INDEX verifications_end_user_idx ON verifications (tenant_id, end_user_id, created_at);
CREATE INDEX verifications_open_idx ON verifications (state, expires_at);

-- End users whose codes and pushes are blocked (more than five sends in an
-- hour blocks sending for 24 hours).
CREATE TABLE verify_blocks (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    end_user_id   TEXT NOT NULL REFERENCES end_users (id) ON DELETE CASCADE,
    blocked_until TIMESTAMP NOT NULL,
    reason        TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, end_user_id)
);
