//! Members: the resellers and apps that call loket. Their keys sign requests; they are never
//! printed by `Debug` or written to logs.

use crate::Rupiah;
use std::fmt;
use std::net::IpAddr;

#[derive(Clone, PartialEq, Eq)]
pub struct Member {
    pub id: i64,
    /// The member's phone number, IAK's `username`.
    pub username: String,
    pub name: String,
    /// isikuota's `api_id`.
    pub api_id: String,
    /// Production key: IAK live signatures, isikuota's `api_key` in the string to sign.
    pub api_key: String,
    /// Development key: IAK signatures made with it run in sandbox mode.
    pub dev_api_key: String,
    /// isikuota's HMAC key, and the key that signs webhooks to the member.
    pub secret_key: String,
    pub allowlist: IpAllowlist,
    pub suspended: bool,
    pub webhook_url: Option<String>,
    /// Webhooks on every final state, not only after a pending answer.
    pub webhook_all: bool,
    pub created_at: i64,
}

impl fmt::Debug for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Member")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("name", &self.name)
            .field("api_id", &self.api_id)
            .field("keys", &"<redacted>")
            .field("allowlist", &self.allowlist)
            .field("suspended", &self.suspended)
            .finish()
    }
}

/// A member's balance on one side (live or sandbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Balance {
    /// Posted balance: the sum of every posted transfer.
    pub balance: Rupiah,
    /// Held by pending payments.
    pub held: Rupiah,
}

impl Balance {
    /// What the member can spend now: `balance - held`.
    pub fn available(&self) -> Rupiah {
        Rupiah::new(self.balance.get() - self.held.get())
    }
}

/// Addresses a member's requests may come from. Empty means any. Entries are single addresses or
/// CIDR blocks (`10.0.0.0/8`, `2001:db8::/32`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpAllowlist {
    entries: Vec<(IpAddr, u8)>,
}

impl IpAllowlist {
    /// Parse a comma-separated list; blanks are ignored.
    pub fn parse(text: &str) -> Result<IpAllowlist, String> {
        let mut entries = Vec::new();
        for raw in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (addr, bits) = match raw.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (raw, None),
            };
            let ip: IpAddr = addr
                .parse()
                .map_err(|_| format!("not an IP address: {raw:?}"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                Some(b) => b
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("bad prefix length in {raw:?}"))?,
                None => max,
            };
            entries.push((ip, bits));
        }
        Ok(IpAllowlist { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Does the list allow `ip`? An empty list allows everyone.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.is_empty() || self.contains(ip)
    }

    /// Is `ip` on the list? (An empty list contains nobody.)
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.entries.iter().any(|(net, bits)| match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), *bits),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), *bits),
            _ => false,
        })
    }
}

impl fmt::Display for IpAllowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max = |ip: &IpAddr| if ip.is_ipv4() { 32 } else { 128 };
        let parts: Vec<String> = self
            .entries
            .iter()
            .map(|(ip, bits)| {
                if *bits == max(ip) {
                    ip.to_string()
                } else {
                    format!("{ip}/{bits}")
                }
            })
            .collect();
        write!(f, "{}", parts.join(","))
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let full = (bits / 8) as usize;
    if a[..full] != b[..full] {
        return false;
    }
    let rest = bits % 8;
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (a[full] & mask) == (b[full] & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist() {
        let empty = IpAllowlist::parse(" ").unwrap();
        assert!(empty.allows("8.8.8.8".parse().unwrap()));
        assert!(!empty.contains("8.8.8.8".parse().unwrap()));
        let l = IpAllowlist::parse("127.0.0.1, 10.1.0.0/16,2001:db8::/32").unwrap();
        assert!(l.allows("127.0.0.1".parse().unwrap()));
        assert!(l.allows("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!l.allows("127.0.0.2".parse().unwrap()));
        assert!(l.allows("10.1.200.3".parse().unwrap()));
        assert!(!l.allows("10.2.0.1".parse().unwrap()));
        assert!(l.allows("2001:db8:1::5".parse().unwrap()));
        assert_eq!(l.to_string(), "127.0.0.1,10.1.0.0/16,2001:db8::/32");
        assert!(IpAllowlist::parse("10.0.0.0/33").is_err());
        assert!(IpAllowlist::parse("example.com").is_err());
        let odd = IpAllowlist::parse("192.168.0.0/23").unwrap();
        assert!(odd.allows("192.168.1.9".parse().unwrap()));
        assert!(!odd.allows("192.168.2.9".parse().unwrap()));
    }
}
