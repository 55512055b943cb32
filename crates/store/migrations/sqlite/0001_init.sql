-- loket schema, SQLite. See spec/ledger.md: the journal (transfers) is append-only; cached
-- balances in `accounts` change only in the transaction that appends the transfer.

-- Lists of three or more values are spelled as OR chains: SQLite evaluates `x IN (a, b, c)`
-- through a temporary index built for every row written (docs/performance.md).
CREATE TABLE accounts (
    id              INTEGER PRIMARY KEY,
    code            TEXT NOT NULL UNIQUE,      -- member:<id>:live, member:<id>:sandbox, external, revenue, upstream:<name>, sandbox:external, sandbox:revenue, upstream:sandbox
    kind            TEXT NOT NULL CHECK (kind = 'member_live' OR kind = 'member_sandbox' OR kind = 'external' OR kind = 'revenue' OR kind = 'upstream'),
    debits_posted   INTEGER NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_posted  INTEGER NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    debits_pending  INTEGER NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    credits_pending INTEGER NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    -- invariant 2: a member's available balance is never negative
    CHECK (kind NOT IN ('member_live', 'member_sandbox') OR credits_posted - debits_posted - debits_pending >= 0)
);

CREATE TABLE transfers (
    id             INTEGER PRIMARY KEY,
    debit_account  INTEGER NOT NULL REFERENCES accounts(id),
    credit_account INTEGER NOT NULL REFERENCES accounts(id),
    amount         INTEGER NOT NULL CHECK (amount > 0),
    -- single: posted at once; pending: a hold; post/void: resolves the hold `pending_id`
    kind           TEXT NOT NULL CHECK (kind = 'single' OR kind = 'pending' OR kind = 'post' OR kind = 'void'),
    -- UNIQUE: a hold is resolved at most once (invariant 3)
    pending_id     INTEGER UNIQUE REFERENCES transfers(id),
    reason         TEXT NOT NULL,
    reference      TEXT,
    created_at     INTEGER NOT NULL,
    CHECK ((kind IN ('post', 'void')) = (pending_id IS NOT NULL)),
    CHECK (debit_account <> credit_account)
);

CREATE TRIGGER transfers_append_only_update BEFORE UPDATE ON transfers
BEGIN SELECT RAISE(ABORT, 'transfers are append-only'); END;
CREATE TRIGGER transfers_append_only_delete BEFORE DELETE ON transfers
BEGIN SELECT RAISE(ABORT, 'transfers are append-only'); END;

INSERT INTO accounts (code, kind) VALUES
    ('external', 'external'),
    ('revenue', 'revenue'),
    ('sandbox:external', 'external'),
    ('sandbox:revenue', 'revenue'),
    ('upstream:sandbox', 'upstream');

CREATE TABLE members (
    id              INTEGER PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    api_id          TEXT NOT NULL UNIQUE,
    api_key         TEXT NOT NULL,
    dev_api_key     TEXT NOT NULL,
    secret_key      TEXT NOT NULL,
    ip_allowlist    TEXT NOT NULL DEFAULT '',
    suspended       INTEGER NOT NULL DEFAULT 0,
    webhook_url     TEXT,
    webhook_all     INTEGER NOT NULL DEFAULT 0,  -- webhooks on every final state, not only after pending

    live_account    INTEGER NOT NULL UNIQUE REFERENCES accounts(id),
    sandbox_account INTEGER NOT NULL UNIQUE REFERENCES accounts(id),
    created_at      INTEGER NOT NULL
);

CREATE TABLE products (
    code              TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    type              TEXT NOT NULL,
    shape             TEXT NOT NULL,
    admin             INTEGER NOT NULL CHECK (admin >= 0),
    commission        INTEGER NOT NULL CHECK (commission >= 0),
    biller_commission INTEGER NOT NULL CHECK (biller_commission >= 0),
    status            TEXT NOT NULL CHECK (status IN ('active', 'inactive')),
    province          TEXT,
    fields            TEXT NOT NULL DEFAULT '',
    sandbox_prefix    TEXT,
    sandbox_profile   TEXT,
    updated_at        INTEGER NOT NULL
);

-- Moves on every change to members or products, whoever makes it (this instance or the CLI in
-- another process): the instance's in-memory copies of those rows are valid while it stands still.
CREATE TABLE config_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO config_version (id, version) VALUES (1, 0);
CREATE TRIGGER members_version_insert AFTER INSERT ON members
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER members_version_update AFTER UPDATE ON members
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER members_version_delete AFTER DELETE ON members
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER products_version_insert AFTER INSERT ON products
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER products_version_update AFTER UPDATE ON products
    BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER products_version_delete AFTER DELETE ON products
    BEGIN UPDATE config_version SET version = version + 1; END;

CREATE TABLE quotes (
    tr_id          INTEGER PRIMARY KEY AUTOINCREMENT,
    member_id      INTEGER NOT NULL REFERENCES members(id),
    mode           TEXT NOT NULL CHECK (mode IN ('live', 'sandbox')),
    protocol       TEXT NOT NULL CHECK (protocol IN ('iak', 'isikuota')),
    ref_id         TEXT NOT NULL,
    code           TEXT NOT NULL,
    hp             TEXT NOT NULL,
    name           TEXT NOT NULL,
    period         TEXT NOT NULL,
    nominal        INTEGER NOT NULL,
    admin          INTEGER NOT NULL,
    price          INTEGER NOT NULL,
    selling_price  INTEGER NOT NULL CHECK (selling_price > 0),
    cost           INTEGER NOT NULL,
    sheets         INTEGER NOT NULL,
    desc_json      TEXT NOT NULL,
    paid_desc_json TEXT NOT NULL,
    biller         TEXT NOT NULL,
    biller_ref     TEXT,
    upstream_code  TEXT,    -- the upstream's product code for the route that quoted
    upstream_ref_id TEXT,   -- loket's ref_id towards the upstream (its pay/status/webhook key)
    scenario       TEXT,
    noref          TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    UNIQUE (member_id, mode, ref_id)
);
-- tr_ids look like IAK's: large and sequential.
INSERT INTO sqlite_sequence (name, seq) VALUES ('quotes', 100000000);

CREATE TABLE payments (
    id            INTEGER PRIMARY KEY,
    tr_id         INTEGER NOT NULL UNIQUE REFERENCES quotes(tr_id),
    member_id     INTEGER NOT NULL REFERENCES members(id),
    mode          TEXT NOT NULL,
    ref_id        TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state = 'pending' OR state = 'success' OR state = 'failed'),
    rc            TEXT NOT NULL,
    amount        INTEGER NOT NULL CHECK (amount > 0),
    hold_id       INTEGER NOT NULL UNIQUE REFERENCES transfers(id),
    noref         TEXT NOT NULL DEFAULT '',
    balance_after INTEGER,
    resolve_at    INTEGER,
    resolve_to    TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    flagged       INTEGER NOT NULL DEFAULT 0,
    resolved_by   TEXT,     -- who settled it after its answer, and why: "resolver", "operator NAME: REASON", "webhook UPSTREAM"
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    -- invariant 4: each (member, ref_id) is paid at most once
    UNIQUE (member_id, mode, ref_id)
);
CREATE INDEX payments_pending ON payments (resolve_at) WHERE state = 'pending';

-- The webhook outbox: written in the transaction that settles the payment, delivered later.
CREATE TABLE webhooks (
    id              INTEGER PRIMARY KEY,
    member_id       INTEGER NOT NULL REFERENCES members(id),
    payment_id      INTEGER NOT NULL REFERENCES payments(id),
    event           TEXT NOT NULL,
    url             TEXT NOT NULL,
    body            TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state = 'pending' OR state = 'delivered' OR state = 'failed'),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    -- one event per final state of a payment
    UNIQUE (payment_id, event)
);
CREATE INDEX webhooks_due ON webhooks (next_attempt_at) WHERE state = 'pending';
CREATE UNIQUE INDEX quotes_upstream_ref ON quotes (biller, upstream_ref_id) WHERE upstream_ref_id IS NOT NULL;

-- Upstream billers and the routes to them (spec/upstreams.md). Secrets may be given as the name
-- of an environment variable instead (`*_env`), resolved when the server loads the upstream.
CREATE TABLE upstreams (
    name                  TEXT PRIMARY KEY,
    kind                  TEXT NOT NULL CHECK (kind = 'iak' OR kind = 'isikuota' OR kind = 'digiflazz' OR kind = 'sandbox'),
    base_url              TEXT NOT NULL DEFAULT '',
    username              TEXT NOT NULL DEFAULT '',
    api_key               TEXT NOT NULL DEFAULT '',
    api_key_env           TEXT,
    secret_key            TEXT NOT NULL DEFAULT '',
    secret_key_env        TEXT,
    testing               INTEGER NOT NULL DEFAULT 0,
    timeout_ms            INTEGER NOT NULL DEFAULT 30000 CHECK (timeout_ms > 0),
    max_concurrency       INTEGER NOT NULL DEFAULT 64 CHECK (max_concurrency > 0),
    breaker_failures      INTEGER NOT NULL DEFAULT 5 CHECK (breaker_failures > 0),
    breaker_cooldown_secs INTEGER NOT NULL DEFAULT 30 CHECK (breaker_cooldown_secs >= 0),
    enabled               INTEGER NOT NULL DEFAULT 1,
    updated_at            INTEGER NOT NULL
);

CREATE TABLE routes (
    product_code  TEXT NOT NULL,
    position      INTEGER NOT NULL,
    upstream      TEXT NOT NULL REFERENCES upstreams(name) ON DELETE CASCADE,
    upstream_code TEXT NOT NULL,
    cost_limit    INTEGER,
    PRIMARY KEY (product_code, upstream)
);
