-- End users' self-serve (app/selfserve): identity proofs, rate limits and
-- blocks, authenticator apps; lookups by username and UPN.

-- One identity proof of a self-serve flow: a six-digit code sent by SMS or
-- email (code: its AES-256-GCM ciphertext, bound to the tenant and the
-- proof), or an authenticator code or a push approval (no code here).
-- end_user_id is NULL when what was typed matched no account that may use
-- self-serve: the flow looks the same either way. subject is what the rate
-- limits count by: the end user's id, or a hash of what was typed.
-- destination is the E.164 number a mobile-number proof goes to.
CREATE TABLE selfserve_proofs (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    end_user_id     TEXT REFERENCES end_users (id) ON DELETE CASCADE,
    subject         TEXT NOT NULL,
    purpose         TEXT NOT NULL, -- reset, unlock, enrol, mobile
    channel         TEXT NOT NULL, -- sms, email, totp, push
    code            BLOB,
    destination     TEXT NOT NULL DEFAULT '',
    verification_id TEXT NOT NULL DEFAULT '', -- push: the app/verify verification
    wrong_tries     INTEGER NOT NULL DEFAULT 0,
    created_at      TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL,
    used_at         TIMESTAMP
);
CREATE INDEX selfserve_proofs_subject_idx ON selfserve_proofs (tenant_id, subject, created_at);

-- What the rate limits count: flows started (start) and wrong codes (fail),
-- per subject.
CREATE TABLE selfserve_events (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    subject    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX selfserve_events_subject_idx ON selfserve_events (tenant_id, subject, kind, created_at);

-- Subjects locked out of self-serve until blocked_until (too many resets
-- started, codes sent or wrong codes).
CREATE TABLE selfserve_blocks (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    subject       TEXT NOT NULL,
    reason        TEXT NOT NULL,
    blocked_until TIMESTAMP NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, subject)
);

-- An end user's authenticator app (TOTP): the secret's AES-256-GCM
-- ciphertext, the last accepted time step (replay protection), and when
-- the end user confirmed it with a first code (NULL while being added).
CREATE TABLE end_user_authenticators (
    end_user_id  TEXT PRIMARY KEY REFERENCES end_users (id) ON DELETE CASCADE,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    secret       BLOB NOT NULL,
    last_step    INTEGER NOT NULL DEFAULT 0,
    created_at   TIMESTAMP NOT NULL,
    confirmed_at TIMESTAMP
);

-- Self-serve finds an account by UPN across the tenant's customers (email
-- has end_users_tenant_email_idx, username end_users_tenant_username_idx).
CREATE INDEX end_users_tenant_upn_idx ON end_users (tenant_id, lower(upn));
