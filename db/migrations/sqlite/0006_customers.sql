-- Customers (the MSP's clients) and their end users.
CREATE TABLE customers (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    domains     TEXT NOT NULL DEFAULT '',  -- comma-separated, lowercased
    time_zone   TEXT NOT NULL DEFAULT '',  -- '' = the tenant's
    notes       TEXT NOT NULL DEFAULT '',
    source      TEXT NOT NULL DEFAULT 'manual', -- manual, itglue, hudu, connectwise, autotask
    external_id TEXT NOT NULL DEFAULT '',
    archived_at TIMESTAMP,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX customers_tenant_name_key ON customers (tenant_id, lower(name)) WHERE archived_at IS NULL;
CREATE INDEX customers_tenant_name_idx ON customers (tenant_id, lower(name), id);

CREATE TABLE end_users (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    customer_id         TEXT NOT NULL REFERENCES customers (id) ON DELETE RESTRICT,
    username            TEXT NOT NULL,
    first_name          TEXT NOT NULL DEFAULT '',
    last_name           TEXT NOT NULL DEFAULT '',
    email               TEXT NOT NULL DEFAULT '',
    email_source        TEXT NOT NULL DEFAULT '', -- directory, manual, import, end_user
    mobile              TEXT NOT NULL DEFAULT '', -- E.164
    mobile_source       TEXT NOT NULL DEFAULT '',
    mobile_confirmed_at TIMESTAMP,
    source              TEXT NOT NULL DEFAULT 'manual', -- manual, csv, ad, m365, local
    external_id         TEXT NOT NULL DEFAULT '',       -- objectGUID, Entra object id …
    self_serve_enabled  BOOLEAN NOT NULL DEFAULT FALSE,
    privileged          BOOLEAN NOT NULL DEFAULT FALSE,
    locked              BOOLEAN NOT NULL DEFAULT FALSE,
    password_expires_at TIMESTAMP,
    first_access_at     TIMESTAMP,  -- first self-serve sign-in (status: accessed self-serve)
    last_access_at      TIMESTAMP,
    welcome_sent_at     TIMESTAMP,
    unlinked_at         TIMESTAMP,  -- gone from the directory
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX end_users_customer_username_key ON end_users (customer_id, lower(username));
CREATE INDEX end_users_customer_name_idx ON end_users (customer_id, lower(last_name), lower(first_name), id);
CREATE INDEX end_users_tenant_name_idx ON end_users (tenant_id, lower(last_name), lower(first_name), id);
CREATE INDEX end_users_tenant_email_idx ON end_users (tenant_id, lower(email));
CREATE INDEX end_users_tenant_expiry_idx ON end_users (tenant_id, password_expires_at);
CREATE INDEX end_users_customer_expiry_idx ON end_users (customer_id, password_expires_at);

-- Single-use links sent to end users (welcome/enrolment).
CREATE TABLE enrolment_tokens (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    end_user_id TEXT NOT NULL REFERENCES end_users (id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    expires_at  TIMESTAMP NOT NULL,
    used_at     TIMESTAMP,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX enrolment_tokens_end_user_idx ON enrolment_tokens (end_user_id);
