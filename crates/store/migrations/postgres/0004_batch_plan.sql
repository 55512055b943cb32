-- loket_place_and_settle_batch looks up at most a batch's few hundred quotes, payments, members
-- and accounts, each by its key. Its one generic plan is made at an instance connection's first
-- call; on a new database the tables are empty then, and PostgreSQL chose hash joins over
-- sequential scans of quotes and payments, kept for the connection's whole life (until an
-- ANALYZE): on a fresh database the scans grew with every payment (docs/postgres.md). Key
-- lookups are the right plan at every table size, so the function never plans a scan where an
-- index serves.
ALTER FUNCTION loket_place_and_settle_batch(BIGINT[], BOOLEAN[], TEXT[], BIGINT[], TEXT[], BIGINT[], BIGINT)
    SET enable_seqscan = off;
