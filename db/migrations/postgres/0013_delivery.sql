-- Delivery by SMS (Twilio) and Web Push.

-- messages: SMS and push rows next to email. expires_at: the send job
-- refuses to deliver after it (a code's expiry, a push's TTL). provider_id:
-- Twilio's message SID. delivery_status / delivery_error: what the provider
-- reported later (Twilio status callbacks), apart from our own status.
ALTER TABLE messages ADD COLUMN expires_at TIMESTAMPTZ;
ALTER TABLE messages ADD COLUMN provider_id TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN delivery_status TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN delivery_error TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN delivery_updated_at TIMESTAMPTZ;
CREATE INDEX messages_tenant_channel_created_idx ON messages (tenant_id, channel, created_at);

-- A tenant's Twilio account. Secrets are AES-256-GCM ciphertexts (app/secret).
CREATE TABLE sms_settings (
    tenant_id             TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    account_sid           TEXT NOT NULL,
    auth_token            BYTEA,
    api_key_sid           TEXT NOT NULL DEFAULT '',
    api_key_secret        BYTEA,
    from_number           TEXT NOT NULL DEFAULT '',
    messaging_service_sid TEXT NOT NULL DEFAULT '',
    daily_limit           INTEGER NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL
);

-- Numbers that replied STOP (or another opt-out keyword) to a tenant's
-- number; START removes the row.
CREATE TABLE sms_opt_outs (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    phone        TEXT NOT NULL,
    keyword      TEXT NOT NULL,
    opted_out_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, phone)
);

-- The installation's VAPID key pair (one row), made on first use. The
-- private key is an AES-256-GCM ciphertext.
CREATE TABLE push_vapid (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    public_key  TEXT NOT NULL,
    private_key BYTEA NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

-- End users' browser push subscriptions. auth is the subscription's
-- authentication secret, encrypted.
CREATE TABLE push_subscriptions (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    end_user_id     TEXT NOT NULL REFERENCES end_users (id) ON DELETE CASCADE,
    endpoint        TEXT NOT NULL,
    p256dh          TEXT NOT NULL,
    auth            BYTEA NOT NULL,
    user_agent      TEXT NOT NULL DEFAULT '',
    device_label    TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    last_success_at TIMESTAMPTZ,
    revoked_at      TIMESTAMPTZ,
    revoke_reason   TEXT NOT NULL DEFAULT '',
    UNIQUE (tenant_id, endpoint)
);
CREATE INDEX push_subscriptions_end_user_idx ON push_subscriptions (tenant_id, end_user_id);
