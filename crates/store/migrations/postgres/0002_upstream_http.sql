-- The HTTP version loket speaks to an upstream (docs/upstreams.md, "HTTP versions"): `auto`
-- (HTTP/1.1, or h2 when TLS negotiates it), `http1`, `http2` (h2c with prior knowledge to an
-- http:// upstream).
ALTER TABLE upstreams ADD COLUMN http TEXT NOT NULL DEFAULT 'auto' CHECK (http IN ('auto', 'http1', 'http2'));
