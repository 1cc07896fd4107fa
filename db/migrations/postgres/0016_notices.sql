-- Password-expiry and lockout notices to end users (app/notice).

-- A tenant's notice settings: daily expiry notices start this many days
-- before a password expires (1–30), and go by text message too when
-- notice_sms is on (email always; web push where the end user has a device).
ALTER TABLE tenants ADD COLUMN notice_days_before INTEGER NOT NULL DEFAULT 10
    CHECK (notice_days_before BETWEEN 1 AND 30);
ALTER TABLE tenants ADD COLUMN notice_sms BOOLEAN NOT NULL DEFAULT FALSE;

-- One notice to one end user: planned by the sweep (expiry) or by a lockout
-- event (lockout), then sent, or canceled at send time. The unique key is the
-- "never twice" rule: one notice per end user, kind and local day (the
-- customer's date where the notice is due), whatever retries, restarts,
-- concurrent sweeps or clock jumps happen. expires_at and last_set_at are
-- the password's state when the notice was planned: a change by send time
-- cancels it. The *_message_id columns name the messages rows of each
-- channel (their status is the delivery status); *_note says why a channel
-- was not used. No foreign keys: the sweep inserts notices in bulk, and a
-- key's check locks the referenced row for each of them (about 30% of the
-- insert's time); a trigger removes an end user's notices with the end user
-- (deleted alone, or with its customer or tenant).
CREATE TABLE notices (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    customer_id      TEXT NOT NULL,
    end_user_id      TEXT NOT NULL,
    kind             TEXT NOT NULL,              -- expiry, lockout
    day              TEXT NOT NULL,              -- local date YYYY-MM-DD in time_zone
    time_zone        TEXT NOT NULL,
    days_left        INTEGER NOT NULL DEFAULT 0, -- expiry: days from day to the expiry date
    expires_at       TIMESTAMPTZ,
    last_set_at      TIMESTAMPTZ,
    lockout_event_id TEXT NOT NULL DEFAULT '',
    state            TEXT NOT NULL,              -- pending, sent, canceled
    reason           TEXT NOT NULL DEFAULT '',   -- why it was canceled
    email_message_id TEXT NOT NULL DEFAULT '',
    email_note       TEXT NOT NULL DEFAULT '',
    sms_message_id   TEXT NOT NULL DEFAULT '',
    sms_note         TEXT NOT NULL DEFAULT '',
    push_message_ids TEXT NOT NULL DEFAULT '',   -- comma-separated, one per subscription
    push_note        TEXT NOT NULL DEFAULT '',
    planned_at       TIMESTAMPTZ NOT NULL,
    done_at          TIMESTAMPTZ
);
CREATE UNIQUE INDEX notices_once_key ON notices (end_user_id, kind, day);

CREATE FUNCTION notices_end_users_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM notices WHERE end_user_id IN (SELECT id FROM old_rows);
    RETURN NULL;
END;
$$;
CREATE TRIGGER end_users_delete_notices AFTER DELETE ON end_users
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION notices_end_users_deleted();

-- The last local day whose expiry notices the sweep planned in full, per
-- customer: later sweeps that day skip the customer, and a clock that jumps
-- back never plans an earlier day again.
CREATE TABLE notice_runs (
    customer_id TEXT PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    day         TEXT NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL
);
