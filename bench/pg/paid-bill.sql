-- One sandbox paid bill as loket sends it to PostgreSQL (pgbench script; see docs/performance.md,
-- "PostgreSQL"): the inquiry (the member, the product, the quote) and the pay-pasca (the member,
-- loket_place_and_settle): five statements, two of them commits. Members from bench/pg/setup.sql.
--   pgbench -n -M prepared -c 64 -j 2 -T 20 -f bench/pg/paid-bill.sql URL
\set m random(1, 64)
SELECT id, username, name, api_id, api_key, dev_api_key, secret_key, ip_allowlist, suspended, webhook_url, created_at, webhook_all FROM members WHERE username = 'pgbench' || lpad(:m::TEXT, 4, '0');
SELECT code, name, type, shape, admin, commission, biller_commission, status, province, fields, sandbox_prefix, sandbox_profile FROM products WHERE code = 'PGAS';
INSERT INTO quotes (member_id, mode, protocol, ref_id, code, hp, name, period, nominal, admin, price, selling_price, cost, sheets, desc_json, paid_desc_json, biller, biller_ref, scenario, noref, created_at, expires_at, upstream_code, upstream_ref_id) SELECT id, 'sandbox', 'iak', 'pgb' || :client_id || '-' || md5(random()::TEXT), 'PGAS', '0110010000', 'NGATIMUN', '0917', 322002, 2500, 324502, 323902, 323702, 1, '{"address":"-","first_meter":"006538","last_meter":"006573","usage":35}', '{"address":"-","first_meter":"006538","last_meter":"006573","usage":35}', 'sandbox', NULL, 'S', '244183135447', extract(epoch FROM now())::BIGINT, extract(epoch FROM now())::BIGINT + 86400, NULL, NULL FROM members WHERE username = 'pgbench' || lpad(:m::TEXT, 4, '0') RETURNING tr_id \gset
SELECT id, username, name, api_id, api_key, dev_api_key, secret_key, ip_allowlist, suspended, webhook_url, created_at, webhook_all FROM members WHERE username = 'pgbench' || lpad(:m::TEXT, 4, '0');
SELECT o_status, o_webhook_url, (o_payment).id FROM loket_place_and_settle(:tr_id, extract(epoch FROM now())::BIGINT + 10, '39', extract(epoch FROM now())::BIGINT, TRUE, '244183135447', 323702, '00', FALSE);
