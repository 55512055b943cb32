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
    -- a hold is resolved at most once (invariant 3): the unique index transfers_pending_id_key
    pending_id     BIGINT REFERENCES transfers(id),
    reason         TEXT NOT NULL,
    reference      TEXT,
    created_at     BIGINT NOT NULL,
    CHECK ((kind IN ('post', 'void')) = (pending_id IS NOT NULL)),
    CHECK (debit_account <> credit_account)
);

-- Only resolutions name a hold: the other transfers need no entry in this index.
CREATE UNIQUE INDEX transfers_pending_id_key ON transfers (pending_id) WHERE pending_id IS NOT NULL;

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

-- ---------------------------------------------------------------------------------------------
-- House accounts' cached sums, sharded.
--
-- Every payment moves the house accounts (`upstream:NAME`, `revenue` and their `sandbox:`
-- twins; `external` on deposits). Were their sums kept in their `accounts` row, every payment
-- would lock that one row until its commit is durable, and all payments would take turns on it.
-- So a house account's sums are its `accounts` row (left at zero by loket) plus its rows here:
-- each transaction adds its movements to the shard `txid % 64` (transactions running at the same
-- time have nearby ids, so they hit different rows). A shard's pending sums may go negative (a
-- hold counted in one shard, resolved in another); only the total means something. Members'
-- accounts are not sharded: their row carries the CHECKs that refuse an overdraft.
-- The cached sums are still updated in the transaction that appends the journal row, and
-- `loket ledger verify` compares their totals (the `account_balances` view) with the replay.
CREATE TABLE account_shards (
    account_id      BIGINT NOT NULL REFERENCES accounts(id),
    shard           INTEGER NOT NULL CHECK (shard >= 0),
    debits_posted   BIGINT NOT NULL DEFAULT 0,
    credits_posted  BIGINT NOT NULL DEFAULT 0,
    debits_pending  BIGINT NOT NULL DEFAULT 0,
    credits_pending BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, shard)
);

-- Every account's cached sums: its row plus its shards.
CREATE VIEW account_balances AS
SELECT a.id, a.code, a.kind,
       a.debits_posted + coalesce(s.debits_posted, 0) AS debits_posted,
       a.credits_posted + coalesce(s.credits_posted, 0) AS credits_posted,
       a.debits_pending + coalesce(s.debits_pending, 0) AS debits_pending,
       a.credits_pending + coalesce(s.credits_pending, 0) AS credits_pending
  FROM accounts a
  LEFT JOIN LATERAL (
      SELECT sum(debits_posted)::BIGINT AS debits_posted, sum(credits_posted)::BIGINT AS credits_posted,
             sum(debits_pending)::BIGINT AS debits_pending, sum(credits_pending)::BIGINT AS credits_pending
        FROM account_shards WHERE account_id = a.id
  ) s ON TRUE;

-- ---------------------------------------------------------------------------------------------
-- The ledger's steps, run by the server in the caller's transaction (spec/ledger.md). loket calls
-- them instead of sending each statement itself: a payment is one round trip, so its row locks
-- are held for the time it takes the server to run it and make its commit durable, not for a
-- dozen network round trips. At READ COMMITTED each statement below sees the newest committed
-- rows, as separate statements from the client would; no money decision is taken on a value read
-- earlier: the balance check and the hold are one conditional UPDATE, an overdraft trips the
-- accounts CHECK, a second resolution of a hold trips UNIQUE (pending_id), a second payment of a
-- quote trips UNIQUE (tr_id) (waiting for the first to commit or roll back), and a settlement
-- locks its payment row first. Balance rows are locked in one order, so that transactions do
-- not deadlock each other: the member's row first, then a transfer's debit before its credit
-- (external or upstream before revenue; a hold's upstream before the revenue of its settlement).
-- Refusals are errors, so that nothing a step did before survives them: an insufficient
-- balance is SQLSTATE 23514 on table accounts (as the CHECK's own), a missing row P0002.

-- The id of the account `code`.
CREATE FUNCTION loket_account(p_code TEXT) RETURNS BIGINT LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_id BIGINT;
BEGIN
    SELECT id INTO v_id FROM accounts WHERE code = p_code;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no account %', p_code USING ERRCODE = 'P0002';
    END IF;
    RETURN v_id;
END
$$;

-- The account of upstream `p_biller`, created on first use (two transactions creating it at
-- once end with one row).
CREATE FUNCTION loket_upstream_account(p_biller TEXT) RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    v_id BIGINT;
BEGIN
    SELECT id INTO v_id FROM accounts WHERE code = 'upstream:' || p_biller;
    IF NOT FOUND THEN
        INSERT INTO accounts (code, kind) VALUES ('upstream:' || p_biller, 'upstream')
            ON CONFLICT (code) DO NOTHING;
        SELECT id INTO v_id FROM accounts WHERE code = 'upstream:' || p_biller;
    END IF;
    RETURN v_id;
END
$$;

-- Add to an account's cached sums (each amount may be negative): a member's row, whose CHECKs
-- refuse an overdraft, or one shard of a house account.
CREATE FUNCTION loket_move(p_account BIGINT, p_dpost BIGINT, p_cpost BIGINT, p_dpend BIGINT, p_cpend BIGINT)
RETURNS VOID LANGUAGE plpgsql AS $$
BEGIN
    UPDATE accounts
       SET debits_posted = debits_posted + p_dpost, credits_posted = credits_posted + p_cpost,
           debits_pending = debits_pending + p_dpend, credits_pending = credits_pending + p_cpend
     WHERE id = p_account AND kind IN ('member_live', 'member_sandbox');
    IF NOT FOUND THEN
        INSERT INTO account_shards AS s (account_id, shard, debits_posted, credits_posted, debits_pending, credits_pending)
        VALUES (p_account, (txid_current() % 64)::INTEGER, p_dpost, p_cpost, p_dpend, p_cpend)
        ON CONFLICT (account_id, shard) DO UPDATE
           SET debits_posted = s.debits_posted + EXCLUDED.debits_posted,
               credits_posted = s.credits_posted + EXCLUDED.credits_posted,
               debits_pending = s.debits_pending + EXCLUDED.debits_pending,
               credits_pending = s.credits_pending + EXCLUDED.credits_pending;
    END IF;
END
$$;

-- A member's available balance, or a house account's (credits - debits - debits pending).
CREATE FUNCTION loket_available(p_account BIGINT) RETURNS BIGINT LANGUAGE sql STABLE AS $$
    SELECT credits_posted - debits_posted - debits_pending FROM account_balances WHERE id = p_account
$$;

-- A posted transfer of `p_amount` from `p_debit` to `p_credit`; its id.
CREATE FUNCTION loket_transfer(p_debit BIGINT, p_credit BIGINT, p_amount BIGINT, p_reason TEXT, p_reference TEXT, p_now BIGINT)
RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    v_id BIGINT;
BEGIN
    IF EXISTS (SELECT 1 FROM accounts WHERE id = p_credit AND kind IN ('member_live', 'member_sandbox')) THEN
        PERFORM loket_move(p_credit, 0, p_amount, 0, 0);
        PERFORM loket_move(p_debit, p_amount, 0, 0, 0);
    ELSE
        PERFORM loket_move(p_debit, p_amount, 0, 0, 0);
        PERFORM loket_move(p_credit, 0, p_amount, 0, 0);
    END IF;
    INSERT INTO transfers (debit_account, credit_account, amount, kind, reason, reference, created_at)
    VALUES (p_debit, p_credit, p_amount, 'single', p_reason, p_reference, p_now)
    RETURNING id INTO v_id;
    RETURN v_id;
END
$$;

-- A hold (pending transfer) of `p_amount` from `p_debit` to `p_credit`, placed only if the
-- debit's available balance covers it when it is the member's: the check and the hold are one
-- UPDATE on the newest version of the row. Its id; SQLSTATE 23514 when the balance is short.
CREATE FUNCTION loket_hold(p_debit BIGINT, p_credit BIGINT, p_amount BIGINT, p_reason TEXT, p_reference TEXT, p_now BIGINT)
RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    v_id BIGINT;
BEGIN
    UPDATE accounts SET debits_pending = debits_pending + p_amount
     WHERE id = p_debit AND kind IN ('member_live', 'member_sandbox')
       AND credits_posted - debits_posted - debits_pending >= p_amount;
    IF NOT FOUND THEN
        IF EXISTS (SELECT 1 FROM accounts WHERE id = p_debit AND kind IN ('member_live', 'member_sandbox')) THEN
            RAISE EXCEPTION 'insufficient balance' USING ERRCODE = 'check_violation', TABLE = 'accounts';
        END IF;
        PERFORM loket_move(p_debit, 0, 0, p_amount, 0);
    END IF;
    PERFORM loket_move(p_credit, 0, 0, 0, p_amount);
    INSERT INTO transfers (debit_account, credit_account, amount, kind, reason, reference, created_at)
    VALUES (p_debit, p_credit, p_amount, 'pending', p_reason, p_reference, p_now)
    RETURNING id INTO v_id;
    RETURN v_id;
END
$$;

-- Post (`p_post`) or void the hold `p_hold`: the resolving transfer, and both accounts' sums.
-- Its credit account. UNIQUE (pending_id) refuses a second resolution (23505) before any sum
-- moves; P0002 when there is no such hold.
CREATE FUNCTION loket_resolve_hold(p_hold BIGINT, p_post BOOLEAN, p_now BIGINT)
RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    h transfers;
    v_posted BIGINT;
BEGIN
    SELECT * INTO h FROM transfers WHERE id = p_hold AND kind = 'pending';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no hold %', p_hold USING ERRCODE = 'P0002';
    END IF;
    INSERT INTO transfers (debit_account, credit_account, amount, kind, pending_id, reason, created_at)
    VALUES (h.debit_account, h.credit_account, h.amount, CASE WHEN p_post THEN 'post' ELSE 'void' END, p_hold, h.reason, p_now);
    v_posted := CASE WHEN p_post THEN h.amount ELSE 0 END;
    PERFORM loket_move(h.debit_account, v_posted, 0, -h.amount, 0);
    PERFORM loket_move(h.credit_account, 0, v_posted, 0, -h.amount);
    RETURN h.credit_account;
END
$$;

-- Place the payment of quote `p_tr_id`: hold its selling price from the member (the house's
-- sandbox:external for isikuota's testing payments, which charge nothing) towards the upstream,
-- and record the payment, pending. Or find the payment the quote already has. `o_status`: new,
-- existing, no_quote. A concurrent placement of the same quote waits on UNIQUE (tr_id) and
-- then fails (23505): one hold whatever the number of instances.
CREATE FUNCTION loket_place(p_tr_id BIGINT, p_resolve_at BIGINT, p_rc TEXT, p_now BIGINT)
RETURNS TABLE (o_status TEXT, o_payment payments) LANGUAGE plpgsql AS $$
DECLARE
    q quotes;
    v_debit BIGINT;
    v_hold BIGINT;
BEGIN
    SELECT * INTO q FROM quotes WHERE tr_id = p_tr_id;
    IF NOT FOUND THEN
        o_status := 'no_quote';
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT * INTO o_payment FROM payments WHERE tr_id = p_tr_id;
    IF FOUND THEN
        o_status := 'existing';
        RETURN NEXT;
        RETURN;
    END IF;
    IF q.protocol = 'isikuota' AND q.mode = 'sandbox' THEN
        v_debit := loket_account('sandbox:external');
    ELSE
        SELECT CASE WHEN q.mode = 'live' THEN live_account ELSE sandbox_account END INTO v_debit
          FROM members WHERE id = q.member_id;
    END IF;
    v_hold := loket_hold(v_debit, loket_upstream_account(q.biller), q.selling_price, 'payment', q.tr_id::TEXT, p_now);
    INSERT INTO payments (tr_id, member_id, mode, ref_id, state, rc, amount, hold_id, balance_after, resolve_at, created_at, updated_at)
    VALUES (q.tr_id, q.member_id, q.mode, q.ref_id, 'pending', p_rc, q.selling_price, v_hold, loket_available(v_debit), p_resolve_at, p_now, p_now)
    RETURNING * INTO o_payment;
    o_status := 'new';
    RETURN NEXT;
END
$$;

-- Settle the pending payment `p` (its row locked or written by this transaction): post its hold
-- and split the charge between the upstream (`p_cost`) and revenue, or void it with `p_rc`.
-- The payment as it is now.
CREATE FUNCTION loket_settle_row(p payments, p_success BOOLEAN, p_noref TEXT, p_cost BIGINT, p_rc TEXT, p_by TEXT, p_now BIGINT)
RETURNS payments LANGUAGE plpgsql AS $$
DECLARE
    v_upstream BIGINT;
    v_revenue BIGINT;
    v_margin BIGINT;
BEGIN
    IF p_success THEN
        v_upstream := loket_resolve_hold(p.hold_id, TRUE, p_now);
        v_revenue := loket_account(CASE WHEN p.mode = 'live' THEN 'revenue' ELSE 'sandbox:revenue' END);
        -- The upstream keeps its cost; the rest of the member's charge is revenue.
        v_margin := p.amount - p_cost;
        IF v_margin > 0 THEN
            PERFORM loket_transfer(v_upstream, v_revenue, v_margin, 'revenue', p.tr_id::TEXT, p_now);
        ELSIF v_margin < 0 THEN
            PERFORM loket_transfer(v_revenue, v_upstream, -v_margin, 'revenue', p.tr_id::TEXT, p_now);
        END IF;
        UPDATE payments SET state = 'success', rc = '00', noref = p_noref, resolved_by = p_by, resolve_at = NULL, updated_at = p_now
         WHERE id = p.id RETURNING * INTO p;
    ELSE
        PERFORM loket_resolve_hold(p.hold_id, FALSE, p_now);
        UPDATE payments SET state = 'failed', rc = p_rc, noref = '', resolved_by = p_by, resolve_at = NULL, updated_at = p_now
         WHERE id = p.id RETURNING * INTO p;
    END IF;
    RETURN p;
END
$$;

-- The URL the member's webhook for a settled payment goes to, if one is due: when the payment
-- was settled after its answer (`p_after_answer`: resolver, operator, upstream callback), or on
-- every final state when the member asked for that. NULL otherwise.
CREATE FUNCTION loket_webhook_due(p_member BIGINT, p_after_answer BOOLEAN) RETURNS TEXT LANGUAGE sql STABLE AS $$
    SELECT webhook_url FROM members
     WHERE id = p_member AND webhook_url <> '' AND (p_after_answer OR webhook_all)
$$;

-- Settle payment `p_payment` if it is still pending (its row is locked first: a concurrent
-- settlement waits, then finds it settled). `o_status`: settled, unchanged, not_found;
-- `o_webhook_url`: where the member's webhook goes (loket writes it to the outbox in the same
-- transaction), if one is due.
CREATE FUNCTION loket_settle(p_payment BIGINT, p_success BOOLEAN, p_noref TEXT, p_cost BIGINT, p_rc TEXT, p_by TEXT, p_now BIGINT)
RETURNS TABLE (o_status TEXT, o_webhook_url TEXT, o_payment payments) LANGUAGE plpgsql AS $$
BEGIN
    SELECT * INTO o_payment FROM payments WHERE id = p_payment FOR UPDATE;
    IF NOT FOUND THEN
        o_status := 'not_found';
    ELSIF o_payment.state <> 'pending' THEN
        o_status := 'unchanged';
    ELSE
        o_payment := loket_settle_row(o_payment, p_success, p_noref, p_cost, p_rc, p_by, p_now);
        o_webhook_url := loket_webhook_due(o_payment.member_id, p_by IS NOT NULL);
        o_status := 'settled';
    END IF;
    RETURN NEXT;
END
$$;

-- loket_place then loket_settle_row, in one step, for billers whose outcome is known without
-- calling anyone (the built-in sandbox): the same journal rows (the hold, its post or void, the
-- revenue transfer) and the same final sums and payment row, written with fewer statements: the
-- member's hold and its post are one conditional UPDATE of its row, the house accounts' sums
-- move once each. `o_status` as loket_place's. With `p_webhooks` false, a member who wants a
-- webhook on every final state is answered `o_status` = webhook and nothing is written (loket
-- then runs it in a transaction of its own, to write the webhook too); with it true,
-- `o_webhook_url` says where that webhook goes. isikuota's testing payments (the house pays)
-- take the two functions' path.
CREATE FUNCTION loket_place_and_settle(p_tr_id BIGINT, p_resolve_at BIGINT, p_pending_rc TEXT, p_now BIGINT,
    p_success BOOLEAN, p_noref TEXT, p_cost BIGINT, p_rc TEXT, p_webhooks BOOLEAN)
RETURNS TABLE (o_status TEXT, o_webhook_url TEXT, o_payment payments) LANGUAGE plpgsql AS $$
DECLARE
    q RECORD;
    v_upstream BIGINT;
    v_revenue BIGINT;
    v_amount BIGINT;
    v_margin BIGINT;
    v_after BIGINT;
    v_hold BIGINT;
    placed RECORD;
BEGIN
    SELECT qt.tr_id, qt.member_id, qt.mode, qt.protocol, qt.ref_id, qt.selling_price, qt.biller,
           CASE WHEN qt.mode = 'live' THEN m.live_account ELSE m.sandbox_account END AS account,
           m.webhook_url, m.webhook_all, p.id AS payment_id
      INTO q
      FROM quotes qt JOIN members m ON m.id = qt.member_id LEFT JOIN payments p ON p.tr_id = qt.tr_id
     WHERE qt.tr_id = p_tr_id;
    IF NOT FOUND THEN
        o_status := 'no_quote';
        RETURN NEXT;
        RETURN;
    END IF;
    IF q.payment_id IS NOT NULL THEN
        SELECT * INTO o_payment FROM payments WHERE id = q.payment_id;
        o_status := 'existing';
        RETURN NEXT;
        RETURN;
    END IF;
    IF q.webhook_url <> '' AND q.webhook_all THEN
        IF NOT p_webhooks THEN
            o_status := 'webhook';
            RETURN NEXT;
            RETURN;
        END IF;
        o_webhook_url := q.webhook_url;
    END IF;
    IF q.protocol = 'isikuota' AND q.mode = 'sandbox' THEN
        SELECT * INTO placed FROM loket_place(p_tr_id, p_resolve_at, p_pending_rc, p_now);
        o_status := placed.o_status;
        o_payment := placed.o_payment;
        IF o_status = 'new' THEN
            o_payment := loket_settle_row(o_payment, p_success, p_noref, p_cost, p_rc, NULL, p_now);
        END IF;
        RETURN NEXT;
        RETURN;
    END IF;
    v_amount := q.selling_price;
    SELECT max(id) FILTER (WHERE code = 'upstream:' || q.biller),
           max(id) FILTER (WHERE code = CASE WHEN q.mode = 'live' THEN 'revenue' ELSE 'sandbox:revenue' END)
      INTO v_upstream, v_revenue
      FROM accounts WHERE code IN ('upstream:' || q.biller, CASE WHEN q.mode = 'live' THEN 'revenue' ELSE 'sandbox:revenue' END);
    IF v_upstream IS NULL THEN
        v_upstream := loket_upstream_account(q.biller);
    END IF;
    -- The hold and its post (or void) on the member's row: one conditional UPDATE.
    UPDATE accounts SET debits_posted = debits_posted + CASE WHEN p_success THEN v_amount ELSE 0 END
     WHERE id = q.account AND credits_posted - debits_posted - debits_pending >= v_amount
    RETURNING credits_posted - debits_posted - debits_pending - CASE WHEN p_success THEN 0 ELSE v_amount END INTO v_after;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'insufficient balance' USING ERRCODE = 'check_violation', TABLE = 'accounts';
    END IF;
    INSERT INTO transfers (debit_account, credit_account, amount, kind, reason, reference, created_at)
    VALUES (q.account, v_upstream, v_amount, 'pending', 'payment', q.tr_id::TEXT, p_now)
    RETURNING id INTO v_hold;
    IF p_success THEN
        v_margin := v_amount - p_cost;
        INSERT INTO transfers (debit_account, credit_account, amount, kind, pending_id, reason, reference, created_at)
        SELECT * FROM (VALUES
            (q.account, v_upstream, v_amount, 'post', v_hold, 'payment', NULL, p_now),
            (CASE WHEN v_margin > 0 THEN v_upstream ELSE v_revenue END, CASE WHEN v_margin > 0 THEN v_revenue ELSE v_upstream END,
             abs(v_margin), 'single', NULL, 'revenue', q.tr_id::TEXT, p_now)) t
         WHERE t.column3 > 0;
        -- The upstream's shard, then revenue's (the order above).
        INSERT INTO account_shards AS s (account_id, shard, debits_posted, credits_posted)
        SELECT t.account_id, t.shard, t.debits_posted, t.credits_posted FROM (VALUES
            (1, v_upstream, (txid_current() % 64)::INTEGER, greatest(v_margin, 0), v_amount + greatest(-v_margin, 0)),
            (2, v_revenue, (txid_current() % 64)::INTEGER, greatest(-v_margin, 0), greatest(v_margin, 0)))
            AS t (step, account_id, shard, debits_posted, credits_posted)
         WHERE t.step = 1 OR v_margin <> 0
         ORDER BY t.step
        ON CONFLICT (account_id, shard) DO UPDATE
           SET debits_posted = s.debits_posted + EXCLUDED.debits_posted,
               credits_posted = s.credits_posted + EXCLUDED.credits_posted;
    ELSE
        INSERT INTO transfers (debit_account, credit_account, amount, kind, pending_id, reason, created_at)
        VALUES (q.account, v_upstream, v_amount, 'void', v_hold, 'payment', p_now);
    END IF;
    INSERT INTO payments (tr_id, member_id, mode, ref_id, state, rc, amount, hold_id, noref, balance_after, resolve_at, created_at, updated_at)
    VALUES (q.tr_id, q.member_id, q.mode, q.ref_id, CASE WHEN p_success THEN 'success' ELSE 'failed' END,
            CASE WHEN p_success THEN '00' ELSE p_rc END, v_amount, v_hold, CASE WHEN p_success THEN p_noref ELSE '' END,
            v_after, NULL, p_now, p_now)
    RETURNING * INTO o_payment;
    o_status := 'new';
    RETURN NEXT;
END
$$;
