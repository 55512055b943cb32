//! loket's domain, free of I/O: money, the response-code table, the product catalogue, the sandbox
//! biller's rules and bill data, quotes and their lifetime, and Asia/Jakarta time.
//!
//! Everything the protocols (IAK, isikuota) and the stores need to agree on lives here, so that the
//! wire crates only translate and the store only persists.

pub mod catalogue;
pub mod jakarta;
pub mod money;
pub mod rc;
pub mod sandbox;

pub use catalogue::{Catalogue, ExtraField, Product, ProductStatus};
pub use money::Rupiah;
pub use rc::{Rc, RcStatus};

/// Which side of a member a request runs on: the live balance and upstreams, or the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Live,
    Sandbox,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Live => "live",
            Mode::Sandbox => "sandbox",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "live" => Some(Mode::Live),
            "sandbox" => Some(Mode::Sandbox),
            _ => None,
        }
    }
}

pub mod member;
pub mod quote;

pub use member::{Balance, IpAllowlist, Member};
pub use quote::{Protocol, Quote, QuoteLifetime};
pub mod payment;
pub use payment::{Payment, PaymentState, Settlement};
pub mod upstream;
pub mod webhook;
