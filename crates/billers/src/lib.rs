//! The billers behind loket's core: one connector per upstream protocol (`spec/upstreams.md`).
//!
//! Each connector is a module directory: `mod.rs` holds the connector (its client, its calls),
//! `transformers.rs` its wire types and the mapping of its answers onto the core's outcomes
//! ([`InquiryOutcome`], [`PayOutcome`]). The public surface speaks only core types.
//!
//! The rules every connector keeps:
//! - an inquiry answer about the bill itself (paid, wrong number, not available) is
//!   [`InquiryOutcome::Refused`]; everything that means "this upstream cannot answer now"
//!   (transport failure, timeout, 5xx, garbage, product unavailable, our own credentials or float)
//!   is [`InquiryOutcome::Unavailable`], so routing moves to the next route;
//! - a payment is [`PayOutcome::Failed`] only on an answer that definitely says the bill was not
//!   paid; a timeout, a dropped connection, a 5xx, an unparseable or unknown answer is
//!   [`PayOutcome::Pending`] and is resolved later by asking the upstream (`spec/ledger.md`: a
//!   payment is never refunded on a guess);
//! - a failure caused by loket's own side (its float at the upstream, its credentials, its IP) is
//!   reported to the member as [`Rc::BillerSystemError`], never as "balance not enough" or
//!   "invalid signature", which would speak of the member's own balance or keys;
//! - keys are never logged nor printed (`Debug` redacts them).
//!
//! The age of a payment that an upstream says it never received ([`Rc::PaymentRequestNotReceived`])
//! is not judged here: the resolver decides when such an answer is old enough to trust.

pub mod digiflazz;
pub mod h2c;
pub mod iak;
pub mod isikuota;
pub mod sandbox;
mod wire;

#[cfg(test)]
mod fake;

use std::fmt;
use std::time::Duration;

pub use loket_core::upstream::{
    InquiryOutcome, PayOutcome, UpstreamBill, UpstreamInquiry, UpstreamPayment,
};
pub use loket_core::Rc;

/// The kinds of upstream a [`Connector`] can be built for.
pub const KINDS: [&str; 4] = ["iak", "isikuota", "digiflazz", "sandbox"];

/// Per-call timeout when the settings give none (0): 30 s, as IAK recommends to its clients.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// The HTTP versions an upstream can be spoken to with (`http` of an upstream's settings).
pub const HTTP_VERSIONS: [&str; 3] = ["auto", "http1", "http2"];

/// Which HTTP loket speaks to an upstream (docs/upstreams.md, "HTTP versions").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HttpVersion {
    /// HTTP/1.1 to an `http://` upstream; to an `https://` one whatever TLS negotiates (ALPN: h2
    /// when the server offers it, else HTTP/1.1).
    #[default]
    Auto,
    /// HTTP/1.1 only, whatever the scheme: one connection per request in flight.
    Http1,
    /// HTTP/2 only: cleartext h2c with prior knowledge to an `http://` upstream, h2 over TLS to an
    /// `https://` one. The requests in flight share one connection as streams, so thousands of
    /// slow payments need no socket each.
    Http2,
}

impl HttpVersion {
    /// From its name in the config and the database: `auto`, `http1` or `http2`.
    pub fn parse(s: &str) -> Result<HttpVersion, String> {
        match s {
            "auto" | "" => Ok(HttpVersion::Auto),
            "http1" => Ok(HttpVersion::Http1),
            "http2" => Ok(HttpVersion::Http2),
            other => Err(format!(
                "unknown http version {other:?} (expected one of {})",
                HTTP_VERSIONS.join(", ")
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            HttpVersion::Auto => "auto",
            HttpVersion::Http1 => "http1",
            HttpVersion::Http2 => "http2",
        }
    }
}

/// How to reach one upstream. `Debug` redacts `api_key` and `secret_key`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UpstreamSettings {
    /// The operator's name for this upstream (routes name it).
    pub name: String,
    /// `iak` | `isikuota` | `digiflazz` | `sandbox`.
    pub kind: String,
    /// e.g. `https://testpostpaid.mobilepulsa.net`, `https://api.digiflazz.com`; unused by the
    /// sandbox.
    pub base_url: String,
    /// IAK / Digiflazz `username`; isikuota `api_id`.
    pub username: String,
    pub api_key: String,
    /// isikuota's HMAC key; Digiflazz's webhook secret (`X-Hub-Signature`).
    pub secret_key: String,
    /// isikuota / Digiflazz `testing` flag, sent with every call when true.
    pub testing: bool,
    /// Per-call timeout; 0 means [`DEFAULT_TIMEOUT_MS`].
    pub timeout_ms: u64,
    /// HTTP/1.1, HTTP/2 or negotiated.
    pub http: HttpVersion,
}

impl fmt::Debug for UpstreamSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("UpstreamSettings")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("username", &self.username)
            .field("api_key", &redacted(&self.api_key))
            .field("secret_key", &redacted(&self.secret_key))
            .field("testing", &self.testing)
            .field("timeout_ms", &self.timeout_ms)
            .field("http", &self.http)
            .finish()
    }
}

impl UpstreamSettings {
    /// The per-call timeout.
    pub fn timeout(&self) -> Duration {
        match self.timeout_ms {
            0 => Duration::from_millis(DEFAULT_TIMEOUT_MS),
            ms => Duration::from_millis(ms),
        }
    }

    /// The HTTP client of a remote connector: no proxy from the environment, the HTTP version
    /// of [`UpstreamSettings::http`]. Its connections are shared by the connector's clones.
    pub fn http_client(&self) -> Result<reqwest::Client, String> {
        let builder = reqwest::Client::builder().no_proxy();
        let builder = match self.http {
            HttpVersion::Auto => builder,
            HttpVersion::Http1 => builder.http1_only(),
            HttpVersion::Http2 => builder.http2_prior_knowledge(),
        };
        builder
            .build()
            .map_err(|e| format!("upstream {}: http client: {e}", self.name))
    }

    /// The checks every remote connector needs: a name, an `http(s)://` base URL, a username and
    /// a key.
    fn check_remote(&self) -> Result<(), String> {
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err(format!(
                "upstream {}: base_url must start with http:// or https://",
                self.name
            ));
        }
        if self.username.trim().is_empty() {
            return Err(format!("upstream {}: username is empty", self.name));
        }
        if self.api_key.is_empty() {
            return Err(format!("upstream {}: api_key is empty", self.name));
        }
        Ok(())
    }
}

/// One upstream, whatever its protocol.
#[derive(Debug, Clone)]
pub enum Connector {
    Iak(iak::IakConnector),
    Isikuota(isikuota::IsikuotaConnector),
    Digiflazz(digiflazz::DigiflazzConnector),
    Sandbox(sandbox::SandboxConnector),
}

impl Connector {
    /// The connector these settings describe. Errors name the upstream and the problem (never a
    /// key): an unknown kind, an empty name, a base URL that is not `http(s)://`, a missing
    /// username or key (isikuota also needs `secret_key`).
    pub fn from_settings(s: &UpstreamSettings) -> Result<Connector, String> {
        if s.name.trim().is_empty() {
            return Err("upstream without a name".into());
        }
        match s.kind.as_str() {
            "iak" => iak::IakConnector::from_settings(s).map(Connector::Iak),
            "isikuota" => isikuota::IsikuotaConnector::from_settings(s).map(Connector::Isikuota),
            "digiflazz" => {
                digiflazz::DigiflazzConnector::from_settings(s).map(Connector::Digiflazz)
            }
            "sandbox" => Ok(Connector::Sandbox(sandbox::SandboxConnector::new(
                s.name.clone(),
            ))),
            other => Err(format!(
                "upstream {}: unknown kind {other:?} (expected one of {})",
                s.name,
                KINDS.join(", ")
            )),
        }
    }

    /// The operator's name for this upstream.
    pub fn name(&self) -> &str {
        match self {
            Connector::Iak(c) => c.name(),
            Connector::Isikuota(c) => c.name(),
            Connector::Digiflazz(c) => c.name(),
            Connector::Sandbox(c) => c.name(),
        }
    }

    /// `iak` | `isikuota` | `digiflazz` | `sandbox`.
    pub fn kind(&self) -> &'static str {
        match self {
            Connector::Iak(_) => "iak",
            Connector::Isikuota(_) => "isikuota",
            Connector::Digiflazz(_) => "digiflazz",
            Connector::Sandbox(_) => "sandbox",
        }
    }

    /// Ask the upstream for the bill. Moves no money.
    pub async fn inquiry(&self, req: &UpstreamInquiry) -> InquiryOutcome {
        match self {
            Connector::Iak(c) => c.inquiry(req).await,
            Connector::Isikuota(c) => c.inquiry(req).await,
            Connector::Digiflazz(c) => c.inquiry(req).await,
            Connector::Sandbox(c) => c.inquiry(req),
        }
    }

    /// Pay a bill this upstream quoted. Call it once per payment: a pending answer is resolved
    /// with [`Connector::status`], never by paying again.
    pub async fn pay(&self, p: &UpstreamPayment) -> PayOutcome {
        // Each connector's future boxed: a payment waiting on its upstream holds the one it
        // needs, not room for the largest of all (docs/performance.md, round 8).
        match self {
            Connector::Iak(c) => Box::pin(c.pay(p)).await,
            Connector::Isikuota(c) => Box::pin(c.pay(p)).await,
            Connector::Digiflazz(c) => Box::pin(c.pay(p)).await,
            Connector::Sandbox(c) => c.pay(p),
        }
    }

    /// What the upstream knows of a payment now.
    pub async fn status(&self, p: &UpstreamPayment) -> PayOutcome {
        match self {
            Connector::Iak(c) => c.status(p).await,
            Connector::Isikuota(c) => c.status(p).await,
            Connector::Digiflazz(c) => c.status(p).await,
            Connector::Sandbox(c) => c.status(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(kind: &str) -> UpstreamSettings {
        UpstreamSettings {
            name: "up1".into(),
            kind: kind.into(),
            base_url: "http://127.0.0.1:9/".into(),
            username: "user".into(),
            api_key: "ap1-k3y-value".into(),
            secret_key: "s3cr3t-value".into(),
            testing: true,
            timeout_ms: 0,
            http: HttpVersion::Auto,
        }
    }

    #[test]
    fn builds_every_kind() {
        for kind in KINDS {
            let c = Connector::from_settings(&settings(kind)).unwrap();
            assert_eq!(c.kind(), kind);
            assert_eq!(c.name(), "up1");
            let dbg = format!("{c:?}");
            assert!(!dbg.contains("ap1-k3y"), "{dbg}");
            assert!(!dbg.contains("s3cr3t"), "{dbg}");
        }
    }

    #[test]
    fn refuses_bad_settings() {
        let err = Connector::from_settings(&settings("mobilepulsa")).unwrap_err();
        assert!(err.contains("unknown kind"), "{err}");
        let mut s = settings("iak");
        s.base_url = "ftp://x".into();
        assert!(Connector::from_settings(&s).is_err());
        let mut s = settings("digiflazz");
        s.api_key.clear();
        let err = Connector::from_settings(&s).unwrap_err();
        assert!(err.contains("api_key"), "{err}");
        let mut s = settings("isikuota");
        s.secret_key.clear();
        assert!(Connector::from_settings(&s).is_err());
        let mut s = settings("iak");
        s.username = " ".into();
        assert!(Connector::from_settings(&s).is_err());
        let mut s = settings("sandbox");
        s.name.clear();
        assert!(Connector::from_settings(&s).is_err());
        // The sandbox needs nothing else.
        let s = UpstreamSettings {
            name: "demo".into(),
            kind: "sandbox".into(),
            ..Default::default()
        };
        assert_eq!(Connector::from_settings(&s).unwrap().kind(), "sandbox");
    }

    #[test]
    fn debug_redacts_keys() {
        let s = settings("iak");
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("ap1-k3y"), "{dbg}");
        assert!(!dbg.contains("s3cr3t"), "{dbg}");
        assert!(dbg.contains("<redacted>"), "{dbg}");
        assert!(dbg.contains("user"), "{dbg}");
    }

    #[test]
    fn http_versions() {
        for name in HTTP_VERSIONS {
            assert_eq!(HttpVersion::parse(name).unwrap().as_str(), name);
        }
        assert_eq!(HttpVersion::parse("").unwrap(), HttpVersion::Auto);
        let err = HttpVersion::parse("h3").unwrap_err();
        assert!(err.contains("http2"), "{err}");
        for kind in ["iak", "isikuota", "digiflazz"] {
            for http in [HttpVersion::Auto, HttpVersion::Http1, HttpVersion::Http2] {
                let mut s = settings(kind);
                s.http = http;
                assert!(Connector::from_settings(&s).is_ok(), "{kind} {http:?}");
                assert!(format!("{s:?}").contains(&format!("{http:?}")));
            }
        }
    }

    #[test]
    fn timeout_defaults() {
        let mut s = settings("iak");
        assert_eq!(s.timeout(), Duration::from_secs(30));
        s.timeout_ms = 250;
        assert_eq!(s.timeout(), Duration::from_millis(250));
    }
}
