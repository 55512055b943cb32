-- Members for bench/pg/paid-bill.sql: 64 sandbox members (pgbench0001..pgbench0064), each with a
-- large sandbox balance, deposited through the ledger (loket_transfer), so that `loket ledger
-- verify` stays clean. Run once on a database that `loket migrate --database URL` prepared:
--   psql URL -f bench/pg/setup.sql
DO $$
DECLARE
    i INT;
    live BIGINT;
    sandbox BIGINT;
    member BIGINT;
BEGIN
    FOR i IN 1..64 LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM members WHERE username = 'pgbench' || lpad(i::TEXT, 4, '0'));
        INSERT INTO accounts (code, kind) VALUES ('new:pgbench' || i || ':live', 'member_live') RETURNING id INTO live;
        INSERT INTO accounts (code, kind) VALUES ('new:pgbench' || i || ':sandbox', 'member_sandbox') RETURNING id INTO sandbox;
        INSERT INTO members (username, name, api_id, api_key, dev_api_key, secret_key, live_account, sandbox_account, created_at)
        VALUES ('pgbench' || lpad(i::TEXT, 4, '0'), 'pgbench', 'pgbench-' || i || '-' || md5(random()::TEXT), 'k', 'dk', 's', live, sandbox, 0)
        RETURNING id INTO member;
        UPDATE accounts SET code = 'member:' || member || ':live' WHERE id = live;
        UPDATE accounts SET code = 'member:' || member || ':sandbox' WHERE id = sandbox;
        PERFORM loket_transfer(loket_account('sandbox:external'), sandbox, 10000000000000, 'deposit', NULL, 0);
    END LOOP;
END
$$;
