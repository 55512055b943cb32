-- loket schema, PostgreSQL. The same tables, columns and constraints as migrations/sqlite/0001_init.sql,
-- with PostgreSQL's types: BIGINT for money, ids and times (unix seconds), BOOLEAN for flags, TEXT
-- for JSON that must keep its key order (desc_json). See spec/ledger.md: the journal (transfers)
-- is append-only; cached balances in `accounts` change only in the transaction that appends the
-- transfer. Applied by the store inside one transaction under pg_advisory_xact_lock.

CREATE TABLE accounts (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code            TEXT NOT NULL UNIQUE,      -- member:<id>:live, member:<id>:sandbox, external, revenue, upstream:<name>, sandbox:external, sandbox:revenue, upstream:sandbox
    kind            TEXT NOT NULL CHECK (kind IN ('member_live', 'member_sandbox', 'external', 'revenue', 'upstream')),
    debits_posted   BIGINT NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_posted  BIGINT NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    debits_pending  BIGINT NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    credits_pending BIGINT NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    -- invariant 2: a member's available balance is never negative
    CONSTRAINT accounts_member_available CHECK (kind NOT IN ('member_live', 'member_sandbox') OR credits_posted - debits_posted - debits_pending >= 0)
);

CREATE TABLE transfers (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    debit_account  BIGINT NOT NULL REFERENCES accounts(id),
    credit_account BIGINT NOT NULL REFERENCES accounts(id),
    amount         BIGINT NOT NULL CHECK (amount > 0),
    -- single: posted at once; pending: a hold; post/void: resolves the hold `pending_id`
    kind           TEXT NOT NULL CHECK (kind IN ('single', 'pending', 'post', 'void')),
    -- UNIQUE: a hold is resolved at most once (invariant 3)
    pending_id     BIGINT UNIQUE REFERENCES transfers(id),
    reason         TEXT NOT NULL,
    reference      TEXT,
    created_at     BIGINT NOT NULL,
    CHECK ((kind IN ('post', 'void')) = (pending_id IS NOT NULL)),
    CHECK (debit_account <> credit_account)
);

CREATE FUNCTION transfers_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'transfers are append-only';
END
$$;
CREATE TRIGGER transfers_append_only_update BEFORE UPDATE ON transfers
    FOR EACH ROW EXECUTE FUNCTION transfers_append_only();
CREATE TRIGGER transfers_append_only_delete BEFORE DELETE ON transfers
    FOR EACH ROW EXECUTE FUNCTION transfers_append_only();
CREATE TRIGGER transfers_append_only_truncate BEFORE TRUNCATE ON transfers
    FOR EACH STATEMENT EXECUTE FUNCTION transfers_append_only();

INSERT INTO accounts (code, kind) VALUES
    ('external', 'external'),
    ('revenue', 'revenue'),
    ('sandbox:external', 'external'),
    ('sandbox:revenue', 'revenue'),
    ('upstream:sandbox', 'upstream');

CREATE TABLE members (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    api_id          TEXT NOT NULL UNIQUE,
    api_key         TEXT NOT NULL,
    dev_api_key     TEXT NOT NULL,
    secret_key      TEXT NOT NULL,
    ip_allowlist    TEXT NOT NULL DEFAULT '',
    suspended       BOOLEAN NOT NULL DEFAULT FALSE,
    webhook_url     TEXT,
    webhook_all     BOOLEAN NOT NULL DEFAULT FALSE,  -- webhooks on every final state, not only after pending

    live_account    BIGINT NOT NULL UNIQUE REFERENCES accounts(id),
    sandbox_account BIGINT NOT NULL UNIQUE REFERENCES accounts(id),
    created_at      BIGINT NOT NULL
);

CREATE TABLE products (
    code              TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    type              TEXT NOT NULL,
    shape             TEXT NOT NULL,
    admin             BIGINT NOT NULL CHECK (admin >= 0),
    commission        BIGINT NOT NULL CHECK (commission >= 0),
    biller_commission BIGINT NOT NULL CHECK (biller_commission >= 0),
    status            TEXT NOT NULL CHECK (status IN ('active', 'inactive')),
    province          TEXT,
    fields            TEXT NOT NULL DEFAULT '',
    sandbox_prefix    TEXT,
    sandbox_profile   TEXT,
    updated_at        BIGINT NOT NULL
);

CREATE TABLE quotes (
    -- tr_ids look like IAK's: large and sequential (SQLite's start at 100000001 too).
    tr_id          BIGINT GENERATED ALWAYS AS IDENTITY (START WITH 100000001) PRIMARY KEY,
    member_id      BIGINT NOT NULL REFERENCES members(id),
    mode           TEXT NOT NULL CHECK (mode IN ('live', 'sandbox')),
    protocol       TEXT NOT NULL CHECK (protocol IN ('iak', 'isikuota')),
    ref_id         TEXT NOT NULL,
    code           TEXT NOT NULL,
    hp             TEXT NOT NULL,
    name           TEXT NOT NULL,
    period         TEXT NOT NULL,
    nominal        BIGINT NOT NULL,
    admin          BIGINT NOT NULL,
    price          BIGINT NOT NULL,
    selling_price  BIGINT NOT NULL CHECK (selling_price > 0),
    cost           BIGINT NOT NULL,
    sheets         BIGINT NOT NULL,
    desc_json      TEXT NOT NULL,   -- TEXT, not JSONB: the desc's key order is part of the answer
    paid_desc_json TEXT NOT NULL,
    biller         TEXT NOT NULL,
    biller_ref     TEXT,
    upstream_code  TEXT,    -- the upstream's product code for the route that quoted
    upstream_ref_id TEXT,   -- loket's ref_id towards the upstream (its pay/status/webhook key)
    scenario       TEXT,
    noref          TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    UNIQUE (member_id, mode, ref_id)
);

CREATE TABLE payments (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tr_id         BIGINT NOT NULL UNIQUE REFERENCES quotes(tr_id),
    member_id     BIGINT NOT NULL REFERENCES members(id),
    mode          TEXT NOT NULL,
    ref_id        TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('pending', 'success', 'failed')),
    rc            TEXT NOT NULL,
    amount        BIGINT NOT NULL CHECK (amount > 0),
    hold_id       BIGINT NOT NULL UNIQUE REFERENCES transfers(id),
    noref         TEXT NOT NULL DEFAULT '',
    balance_after BIGINT,
    resolve_at    BIGINT,
    resolve_to    TEXT,
    attempts      BIGINT NOT NULL DEFAULT 0,
    flagged       BOOLEAN NOT NULL DEFAULT FALSE,
    resolved_by   TEXT,     -- who settled it after its answer, and why: "resolver", "operator NAME: REASON", "webhook UPSTREAM"
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    -- invariant 4: each (member, ref_id) is paid at most once
    UNIQUE (member_id, mode, ref_id)
);
CREATE INDEX payments_pending ON payments (resolve_at) WHERE state = 'pending';

-- The webhook outbox: written in the transaction that settles the payment, delivered later.
CREATE TABLE webhooks (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    member_id       BIGINT NOT NULL REFERENCES members(id),
    payment_id      BIGINT NOT NULL REFERENCES payments(id),
    event           TEXT NOT NULL,
    url             TEXT NOT NULL,
    body            TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_status     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    -- one event per final state of a payment
    UNIQUE (payment_id, event)
);
CREATE INDEX webhooks_due ON webhooks (next_attempt_at) WHERE state = 'pending';
CREATE UNIQUE INDEX quotes_upstream_ref ON quotes (biller, upstream_ref_id) WHERE upstream_ref_id IS NOT NULL;

-- Upstream billers and the routes to them (spec/upstreams.md). Secrets may be given as the name
-- of an environment variable instead (`*_env`), resolved when the server loads the upstream.
CREATE TABLE upstreams (
    name                  TEXT PRIMARY KEY,
    kind                  TEXT NOT NULL CHECK (kind IN ('iak', 'isikuota', 'digiflazz', 'sandbox')),
    base_url              TEXT NOT NULL DEFAULT '',
    username              TEXT NOT NULL DEFAULT '',
    api_key               TEXT NOT NULL DEFAULT '',
    api_key_env           TEXT,
    secret_key            TEXT NOT NULL DEFAULT '',
    secret_key_env        TEXT,
    testing               BOOLEAN NOT NULL DEFAULT FALSE,
    timeout_ms            BIGINT NOT NULL DEFAULT 30000 CHECK (timeout_ms > 0),
    max_concurrency       BIGINT NOT NULL DEFAULT 64 CHECK (max_concurrency > 0),
    breaker_failures      BIGINT NOT NULL DEFAULT 5 CHECK (breaker_failures > 0),
    breaker_cooldown_secs BIGINT NOT NULL DEFAULT 30 CHECK (breaker_cooldown_secs >= 0),
    enabled               BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at            BIGINT NOT NULL
);

CREATE TABLE routes (
    product_code  TEXT NOT NULL,
    position      BIGINT NOT NULL,
    upstream      TEXT NOT NULL REFERENCES upstreams(name) ON DELETE CASCADE,
    upstream_code TEXT NOT NULL,
    cost_limit    BIGINT,
    PRIMARY KEY (product_code, upstream)
);
