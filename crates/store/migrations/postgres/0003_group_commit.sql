-- Group commit on PostgreSQL (docs/postgres.md, "Group commit"): members and products cached by
-- each instance, confirmed against one version row; and the built-in sandbox's payments of many
-- requests placed and settled by one set-based statement.

-- The version of members and products together, moved by every statement that changes either
-- (whichever process or instance runs it). An instance answers lookups from its cache and checks
-- this row before a request has any effect (crates/store/src/config.rs).
CREATE TABLE config_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO config_version (id, version) VALUES (1, 0);

CREATE FUNCTION loket_config_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE config_version SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER members_config_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON members
    FOR EACH STATEMENT EXECUTE FUNCTION loket_config_changed();
CREATE TRIGGER products_config_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON products
    FOR EACH STATEMENT EXECUTE FUNCTION loket_config_changed();

-- The built-in sandbox's payments of many requests, placed and settled by one set-based
-- statement, one commit for the lot. Each
-- payment gets exactly what loket_place_and_settle gives it alone (the same journal rows, sums,
-- payment row and balance_after); one executor start, one plan and one WAL flush serve them all.
--
-- p_tr_ids, p_success, p_noref, p_cost, p_rc: one element per payment, as loket_place_and_settle
-- takes them; p_expected: the config_version the payment's request was answered at, if it is
-- still to be confirmed (NULL: nothing to check). Answers one row per element, in order: o_status `new` (placed and settled now),
-- `existing` (the quote's earlier payment), or `alone`: not done here, run it by itself through
-- loket_place_and_settle, which decides it (no quote, a member's webhook on every final state,
-- isikuota's house-funded testing payments, an upstream account not created yet, or a member whose
-- balance does not cover all of its payments in the batch together, or whose request saw an
-- older config_version). Nothing is written for an `alone` payment.
--
-- Money decisions as in loket_place_and_settle, on the newest row versions: the members' rows are
-- locked first, in id order (FOR NO KEY UPDATE, as their UPDATE takes), so concurrent batches
-- and single payments never wait on each other in a cycle; each member's row is then charged by
-- one conditional UPDATE for all of its payments in the batch (available >= their sum), and the
-- house accounts' shards move once each, upstreams before revenue (loket_place_and_settle's
-- order). A second payment of a quote, placed concurrently by another instance, trips
-- UNIQUE (tr_id): the whole statement fails, nothing of it survives, and loket runs each payment
-- of the batch alone.
CREATE FUNCTION loket_place_and_settle_batch(p_tr_ids BIGINT[], p_success BOOLEAN[], p_noref TEXT[],
    p_cost BIGINT[], p_rc TEXT[], p_expected BIGINT[], p_now BIGINT)
RETURNS TABLE (o_status TEXT, o_payment payments) LANGUAGE plpgsql
-- One plan for every call: a custom plan of this statement per call costs more than running it.
SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY
    WITH j AS (
        SELECT * FROM unnest(p_tr_ids, p_success, p_noref, p_cost, p_rc, p_expected) WITH ORDINALITY
            AS j (tr_id, success, noref, cost, rc, expected, idx)
    ),
    q AS (
        SELECT j.idx, j.tr_id, j.success, j.noref, j.cost, j.rc, j.expected,
               qt.member_id, qt.mode, qt.protocol, qt.ref_id, qt.selling_price AS amount, qt.biller,
               CASE WHEN qt.mode = 'live' THEN m.live_account ELSE m.sandbox_account END AS account,
               (m.webhook_url <> '' AND m.webhook_all) AS webhook, p.id AS payment_id
          FROM j LEFT JOIN quotes qt ON qt.tr_id = j.tr_id
                 LEFT JOIN members m ON m.id = qt.member_id
                 LEFT JOIN payments p ON p.tr_id = j.tr_id
    ),
    -- The payments done here: a quote without a payment, of a member without a webhook on every
    -- final state, not isikuota's testing (the house pays those), with its accounts in place, of
    -- a request that saw the current members and products.
    c AS (
        SELECT q.*, ua.id AS upstream, ra.id AS revenue, q.amount - q.cost AS margin
          FROM q JOIN accounts ua ON ua.code = 'upstream:' || q.biller
                 JOIN accounts ra ON ra.code = CASE WHEN q.mode = 'live' THEN 'revenue' ELSE 'sandbox:revenue' END
         WHERE q.member_id IS NOT NULL AND q.payment_id IS NULL AND NOT q.webhook
           AND NOT (q.protocol = 'isikuota' AND q.mode = 'sandbox')
           AND (q.expected IS NULL OR q.expected = (SELECT version FROM config_version WHERE id = 1))
    ),
    need AS MATERIALIZED (
        SELECT account, sum(amount) AS total, sum(CASE WHEN success THEN amount ELSE 0 END) AS posted
          FROM c GROUP BY account
    ),
    locked AS MATERIALIZED (
        SELECT a.id FROM accounts a WHERE a.id IN (SELECT account FROM need) ORDER BY a.id FOR NO KEY UPDATE
    ),
    -- Each member's holds and their posts: one conditional UPDATE of its row. `before`: its
    -- available balance before the batch.
    upd AS (
        UPDATE accounts a SET debits_posted = a.debits_posted + need.posted
          FROM need
         WHERE a.id = need.account AND a.id IN (SELECT id FROM locked)
           AND a.credits_posted - a.debits_posted - a.debits_pending >= need.total
        RETURNING a.id, a.credits_posted - a.debits_posted - a.debits_pending + need.posted AS before
    ),
    -- balance_after as loket_place_and_settle answers it, payment by payment in the batch's order:
    -- the available balance after the payment's post, or after its hold when it failed.
    ok AS MATERIALIZED (
        SELECT c.*, upd.before
                    - sum(CASE WHEN c.success THEN c.amount ELSE 0 END) OVER (PARTITION BY c.account ORDER BY c.idx)
                    - CASE WHEN c.success THEN 0 ELSE c.amount END AS balance_after
          FROM c JOIN upd ON upd.id = c.account
    ),
    holds AS (
        INSERT INTO transfers (debit_account, credit_account, amount, kind, reason, reference, created_at)
        SELECT account, upstream, amount, 'pending', 'payment', tr_id::TEXT, p_now FROM ok ORDER BY idx
        RETURNING id, reference
    ),
    held AS MATERIALIZED (
        SELECT ok.*, holds.id AS hold_id FROM ok JOIN holds ON holds.reference = ok.tr_id::TEXT
    ),
    -- Each hold's post (or void), and the revenue split of a post.
    resolutions AS (
        INSERT INTO transfers (debit_account, credit_account, amount, kind, pending_id, reason, reference, created_at)
        SELECT t.* FROM held CROSS JOIN LATERAL (VALUES
            (held.account, held.upstream, held.amount, CASE WHEN held.success THEN 'post' ELSE 'void' END,
             held.hold_id, 'payment', NULL::TEXT, p_now),
            (CASE WHEN held.margin > 0 THEN held.upstream ELSE held.revenue END,
             CASE WHEN held.margin > 0 THEN held.revenue ELSE held.upstream END,
             abs(held.margin), 'single', NULL::BIGINT, 'revenue', held.tr_id::TEXT, p_now)
        ) AS t (debit_account, credit_account, amount, kind, pending_id, reason, reference, created_at)
         WHERE t.kind <> 'single' OR (held.success AND held.margin <> 0)
         ORDER BY held.idx
    ),
    -- The house accounts' sums, one shard row each: upstreams first, then revenue.
    shards AS (
        INSERT INTO account_shards AS s (account_id, shard, debits_posted, credits_posted)
        SELECT x.account_id, (txid_current() % 64)::INTEGER, sum(x.debits), sum(x.credits) FROM (
            SELECT upstream AS account_id, 0 AS step, greatest(margin, 0) AS debits,
                   amount + greatest(-margin, 0) AS credits
              FROM ok WHERE success
            UNION ALL
            SELECT revenue, 1, greatest(-margin, 0), greatest(margin, 0) FROM ok WHERE success AND margin <> 0
        ) x GROUP BY x.step, x.account_id ORDER BY x.step, x.account_id
        ON CONFLICT (account_id, shard) DO UPDATE
           SET debits_posted = s.debits_posted + EXCLUDED.debits_posted,
               credits_posted = s.credits_posted + EXCLUDED.credits_posted
    ),
    paid AS (
        INSERT INTO payments (tr_id, member_id, mode, ref_id, state, rc, amount, hold_id, noref, balance_after,
                              resolve_at, created_at, updated_at)
        SELECT tr_id, member_id, mode, ref_id, CASE WHEN success THEN 'success' ELSE 'failed' END,
               CASE WHEN success THEN '00' ELSE rc END, amount, hold_id, CASE WHEN success THEN noref ELSE '' END,
               balance_after, NULL, p_now, p_now
          FROM held ORDER BY idx
        RETURNING *
    )
    SELECT CASE WHEN paid.id IS NOT NULL THEN 'new' WHEN q.payment_id IS NOT NULL THEN 'existing' ELSE 'alone' END,
           CASE WHEN paid.id IS NOT NULL THEN paid::payments ELSE ep END
      FROM q LEFT JOIN paid ON paid.tr_id = q.tr_id LEFT JOIN payments ep ON ep.id = q.payment_id
     ORDER BY q.idx;
END
$$;
