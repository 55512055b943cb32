//! loket's configuration file (TOML, `--config FILE` / `LOKET_CONFIG`). Every key is optional;
//! command-line flags override the file. See docs/configuration.md.

use loket_core::QuoteLifetime;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub listen: String,
    pub database: String,
    pub quotes: QuotesConfig,
    /// The sandbox: `[sandbox]` in the file, as spec/sandbox.md names its settings.
    pub sandbox: SandboxConfig,
    pub limits: LimitsConfig,
    pub isikuota: IsikuotaConfig,
    pub webhooks: WebhooksConfig,
    pub resolver: ResolverConfig,
    /// Upstreams, loaded into the database at start (`loket upstream ...` edits them there).
    pub upstream: Vec<UpstreamConfig>,
    /// Routes, loaded into the database at start (`loket route ...`).
    pub route: Vec<RouteConfig>,
}

/// An upstream biller (spec/upstreams.md). Secrets: `api_key` / `secret_key` literally, or the
/// name of an environment variable in `api_key_env` / `secret_key_env`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    pub name: String,
    /// iak | isikuota | digiflazz | sandbox
    pub kind: String,
    #[serde(default)]
    pub base_url: String,
    /// IAK / Digiflazz username, isikuota api_id.
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub api_key: String,
    pub api_key_env: Option<String>,
    #[serde(default)]
    pub secret_key: String,
    pub secret_key_env: Option<String>,
    /// isikuota / Digiflazz `testing` flag.
    #[serde(default)]
    pub testing: bool,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: i64,
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: i64,
    #[serde(default = "default_breaker_failures")]
    pub breaker_failures: i64,
    #[serde(default = "default_breaker_cooldown")]
    pub breaker_cooldown_secs: i64,
    /// `auto` (default) | `http1` | `http2` (h2c with prior knowledge to an http:// upstream):
    /// docs/upstreams.md, "HTTP versions".
    #[serde(default = "default_http")]
    pub http: String,
}

impl UpstreamConfig {
    /// The record the store keeps of this upstream.
    pub fn record(&self, enabled: bool) -> loket_store::UpstreamRecord {
        loket_store::UpstreamRecord {
            name: self.name.clone(),
            kind: self.kind.clone(),
            base_url: self.base_url.clone(),
            username: self.username.clone(),
            api_key: self.api_key.clone(),
            api_key_env: self.api_key_env.clone(),
            secret_key: self.secret_key.clone(),
            secret_key_env: self.secret_key_env.clone(),
            testing: self.testing,
            timeout_ms: self.timeout_ms,
            max_concurrency: self.max_concurrency,
            breaker_failures: self.breaker_failures,
            breaker_cooldown_secs: self.breaker_cooldown_secs,
            enabled,
            http: self.http.clone(),
        }
    }
}

fn default_timeout_ms() -> i64 {
    30_000
}
fn default_max_concurrency() -> i64 {
    64
}
fn default_breaker_failures() -> i64 {
    5
}
fn default_breaker_cooldown() -> i64 {
    30
}
fn default_http() -> String {
    "auto".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// loket's product code.
    pub product: String,
    pub upstream: String,
    /// The upstream's product code (default: the same as loket's).
    pub upstream_code: Option<String>,
    /// Order among the product's routes (default: the order in the file).
    pub position: Option<i64>,
    /// The most the upstream may charge for one bill on this route.
    pub cost_limit: Option<i64>,
}

/// The pending-payment resolver (spec/upstreams.md "Pending resolution").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResolverConfig {
    /// Waits between upstream status checks; the last value repeats.
    pub backoff_secs: Vec<i64>,
    /// A payment still unknown after this is flagged for the operator (never refunded).
    pub max_age_secs: i64,
    /// An upstream saying "no such payment" is believed only this long after the payment.
    pub not_received_grace_secs: i64,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        ResolverConfig {
            backoff_secs: vec![10, 30, 60, 300, 900],
            max_age_secs: 86_400,
            not_received_grace_secs: 120,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Wait before each retry, in milliseconds; the last value repeats.
    pub backoff_ms: Vec<u64>,
    /// Attempts before a webhook is marked failed (`loket webhook resend` queues it again).
    pub max_attempts: i64,
    /// Per-attempt timeout.
    pub timeout_ms: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            backoff_ms: vec![5_000, 15_000, 60_000, 300_000, 900_000, 3_600_000],
            max_attempts: 8,
            timeout_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotesConfig {
    /// `"end_of_day"` (Asia/Jakarta, IAK's behaviour) or a number of seconds.
    pub lifetime: LifetimeSetting,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum LifetimeSetting {
    Seconds(i64),
    Named(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// Run the whole server as a sandbox: every request is sandbox whatever key signed it
    /// (`loket serve --sandbox`).
    pub enabled: bool,
    /// Pending sandbox payments resolve after this many seconds.
    pub pending_resolve_secs: u64,
    /// Delay before answering an inquiry "timeout" (RC 103); 0 answers at once.
    pub timeout_delay_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request body accepted; larger ones get HTTP 413.
    pub max_body_bytes: usize,
    /// Most client connections served at once (HTTP/1.1 and h2c); more wait in the accept queue.
    pub max_connections: usize,
    /// The listen socket's accept queue (the kernel caps it at `net.core.somaxconn`).
    pub listen_backlog: u32,
    /// Most requests in flight on one HTTP/2 (h2c) client connection.
    pub http2_max_streams: u32,
    /// New work (a new connection's first request, a new h2c stream) run at once until each
    /// first waits (for more bytes, the database or an upstream); the rest take turns by peer
    /// address (`crate::admission`, docs/performance.md, round 13). Later requests on an HTTP/1.1
    /// connection never wait for this.
    pub first_runs: usize,
}

impl LimitsConfig {
    /// The listener's options.
    pub fn server_options(&self) -> crate::server::ServerOptions {
        crate::server::ServerOptions {
            max_connections: self.max_connections,
            http2_max_streams: self.http2_max_streams,
            first_runs: self.first_runs,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IsikuotaConfig {
    pub timestamp_window_secs: i64,
    pub inquiry_session_secs: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            database: "sqlite://loket.db".into(),
            quotes: QuotesConfig::default(),
            sandbox: SandboxConfig::default(),
            limits: LimitsConfig::default(),
            isikuota: IsikuotaConfig::default(),
            webhooks: WebhooksConfig::default(),
            resolver: ResolverConfig::default(),
            upstream: Vec::new(),
            route: Vec::new(),
        }
    }
}

impl Default for QuotesConfig {
    fn default() -> Self {
        QuotesConfig {
            lifetime: LifetimeSetting::Named("end_of_day".into()),
        }
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            enabled: false,
            pending_resolve_secs: 30,
            timeout_delay_ms: 0,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let server = crate::server::ServerOptions::default();
        LimitsConfig {
            max_body_bytes: 1024 * 1024,
            max_connections: server.max_connections,
            listen_backlog: 4096,
            http2_max_streams: server.http2_max_streams,
            first_runs: server.first_runs,
        }
    }
}

impl Default for IsikuotaConfig {
    fn default() -> Self {
        IsikuotaConfig {
            timestamp_window_secs: 300,
            inquiry_session_secs: 300,
        }
    }
}

impl Config {
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let c: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        c.quote_lifetime()?;
        Ok(c)
    }

    pub fn load(path: &std::path::Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Config::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn quote_lifetime(&self) -> Result<QuoteLifetime, String> {
        match &self.quotes.lifetime {
            LifetimeSetting::Named(s) if s == "end_of_day" => Ok(QuoteLifetime::EndOfDay),
            LifetimeSetting::Seconds(s) if *s > 0 => Ok(QuoteLifetime::Seconds(*s)),
            other => Err(format!("quotes.lifetime must be \"end_of_day\" or a positive number of seconds, not {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(c.quote_lifetime().unwrap(), QuoteLifetime::EndOfDay);
        assert_eq!(c.limits.max_body_bytes, 1 << 20);
        let c = Config::from_toml(
            "[quotes]\nlifetime = 60\n[sandbox]\nenabled = true\ntimeout_delay_ms = 5\n",
        )
        .unwrap();
        assert!(c.sandbox.enabled);
        assert_eq!(c.quote_lifetime().unwrap(), QuoteLifetime::Seconds(60));
        assert_eq!(c.sandbox.timeout_delay_ms, 5);
        assert!(Config::from_toml("[quotes]\nlifetime = \"forever\"\n").is_err());
        assert!(Config::from_toml("typo = 1\n").is_err());
    }
}
