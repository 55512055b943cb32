//! The protocol flows the generator drives, with their requests prepared before the run:
//! - [`IakInquiryFlow`]: signed IAK `inq-pasca` of PGAS `0110010000` (sandbox: the documented
//!   number, RC 00), each with its own ref_id;
//! - [`PayFlow`]: an inquiry, then `pay-pasca` of the `tr_id` it answered (RC 00 twice); the
//!   payment's signature covers that `tr_id`, so it is the one md5 computed in the loop;
//! - [`IsikuotaInquiryFlow`]: signed isikuota `inquiry` (`testing: true`), `BILL_INQUIRY_SUCCESS`.
//!
//! Any HTTP failure, any other status or RC counts as an error, by kind.

use crate::http::{endpoint, HttpClient};
use crate::load::Flow;
use crate::scan;
use crate::stats::Op;
use bytes::Bytes;
use hyper::Uri;
use loket_client::iak_sign;
use loket_client::isikuota::IsikuotaClient;
use serde::{Deserialize, Serialize};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub const IAK_PATH: &str = "/api/v1/bill/check";
pub const ISIKUOTA_PATH: &str = "/v1/order";
pub const JSON: &str = "application/json";

/// The product and documented sandbox number the IAK flows use (spec/sandbox.md: RC 00, the
/// seed's NGATIMUN bill).
pub const PGAS: &str = "PGAS";
pub const PGAS_NUMBER: &str = "0110010000";
/// The isikuota flow's product and number (seed 000: the "Demo Member" bill).
pub const ISIKUOTA_CODE: &str = "MPBPJS";
pub const ISIKUOTA_NUMBER: &str = "1234567890";
pub const ISIKUOTA_EXPECTED: &str = "BILL_INQUIRY_SUCCESS";

/// A member's credentials, as `loket member add` prints them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Member {
    pub username: String,
    #[serde(default)]
    pub api_id: String,
    #[serde(default)]
    pub api_key: String,
    #[serde(default)]
    pub dev_api_key: String,
    #[serde(default)]
    pub secret_key: String,
}

/// Which of a member's IAK keys signs: the development key means sandbox mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Sandbox,
    Live,
}

impl Member {
    pub fn iak_key(&self, kind: KeyKind) -> &str {
        match kind {
            KeyKind::Sandbox => &self.dev_api_key,
            KeyKind::Live => &self.api_key,
        }
    }
}

/// A run tag that keeps ref_ids distinct across runs against the same server.
pub fn run_tag() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    to_base36(ms as u64 % 36u64.pow(7))
}

fn to_base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// A signed `inq-pasca` body (the values are plain ASCII: no escaping needed).
pub fn iak_inquiry_body(username: &str, key: &str, code: &str, hp: &str, ref_id: &str) -> Bytes {
    let sign = iak_sign::sign(username, key, ref_id);
    Bytes::from(format!(
        r#"{{"commands":"inq-pasca","username":"{username}","code":"{code}","hp":"{hp}","ref_id":"{ref_id}","sign":"{sign}"}}"#
    ))
}

/// A signed `pay-pasca` body for `tr_id`.
pub fn iak_pay_body(username: &str, key: &str, tr_id: i64) -> Bytes {
    let sign = iak_sign::sign(username, key, &tr_id.to_string());
    Bytes::from(format!(
        r#"{{"commands":"pay-pasca","username":"{username}","tr_id":{tr_id},"sign":"{sign}"}}"#
    ))
}

/// `count` items built by `f(i)`, on every core (the preparation is not measured, but it should
/// not take long either).
pub fn build_parallel<T: Send>(count: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let chunk = count.div_ceil(threads).max(1);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..count)
            .step_by(chunk)
            .map(|from| {
                let to = (from + chunk).min(count);
                s.spawn(move || (from..to).map(f).collect::<Vec<T>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// The RC of an IAK answer, or the error kind.
fn iak_rc(status: u16, body: &[u8]) -> Result<&str, String> {
    match scan::field_str(body, "response_code") {
        Some(rc) if status == 200 => Ok(rc),
        Some(rc) => Err(format!("HTTP {status} RC {rc}")),
        None => Err(format!("HTTP {status} without an RC")),
    }
}

fn targets(bases: &[String], path: &str) -> Result<Vec<Uri>, String> {
    if bases.is_empty() {
        return Err("no server URL".into());
    }
    bases.iter().map(|b| endpoint(b, path)).collect()
}

/// Signed IAK inquiries, one prepared body per operation (or a pool reused cyclically, for a
/// server that does not care about ref_ids: the axum baseline).
pub struct IakInquiryFlow {
    uris: Vec<Uri>,
    bodies: Vec<Bytes>,
    cyclic: bool,
}

impl IakInquiryFlow {
    /// `count` inquiries of PGAS `0110010000`, member `i % members.len()` for operation `i`,
    /// ref_ids `{prefix}{i}`; operation `i` goes to `bases[i % bases.len()]`.
    pub fn prepare(
        bases: &[String],
        members: &[Member],
        key: KeyKind,
        prefix: &str,
        count: usize,
        cyclic: bool,
    ) -> Result<IakInquiryFlow, String> {
        if members.is_empty() {
            return Err("no member".into());
        }
        let bodies = build_parallel(count.max(1), |i| {
            let m = &members[i % members.len()];
            let ref_id = format!("{prefix}{i}");
            iak_inquiry_body(&m.username, m.iak_key(key), PGAS, PGAS_NUMBER, &ref_id)
        });
        Ok(IakInquiryFlow {
            uris: targets(bases, IAK_PATH)?,
            bodies,
            cyclic,
        })
    }

    /// Operation `i`'s body.
    pub fn body(&self, i: usize) -> Bytes {
        self.bodies[i % self.bodies.len()].clone()
    }

    /// Operation `i`'s endpoint.
    pub fn uri(&self, i: usize) -> &Uri {
        &self.uris[i % self.uris.len()]
    }
}

impl Flow for IakInquiryFlow {
    fn capacity(&self) -> Option<usize> {
        (!self.cyclic).then_some(self.bodies.len())
    }

    async fn run(&self, http: &HttpClient, i: usize) -> Op {
        let uri = &self.uris[i % self.uris.len()];
        let body = self.bodies[i % self.bodies.len()].clone();
        match http.post(uri, JSON, body).await {
            Err(e) => Op::err(e),
            Ok(a) => match iak_rc(a.status, &a.body) {
                Ok("00") => Op::ok(),
                Ok(rc) => Op::err(format!("inquiry RC {rc}")),
                Err(e) => Op::err(format!("inquiry {e}")),
            },
        }
    }
}

/// Inquiry + payment pairs: an operation succeeds when both answer RC 00.
pub struct PayFlow {
    uris: Vec<Uri>,
    inquiries: Vec<Bytes>,
    /// (username, key) of each member; operation `i` is member `i % len`'s.
    signers: Vec<(String, String)>,
}

impl PayFlow {
    pub fn prepare(
        bases: &[String],
        members: &[Member],
        key: KeyKind,
        prefix: &str,
        count: usize,
    ) -> Result<PayFlow, String> {
        let inquiries = IakInquiryFlow::prepare(bases, members, key, prefix, count, false)?.bodies;
        Ok(PayFlow {
            uris: targets(bases, IAK_PATH)?,
            inquiries,
            signers: members
                .iter()
                .map(|m| (m.username.clone(), m.iak_key(key).to_string()))
                .collect(),
        })
    }
}

impl Flow for PayFlow {
    fn phases(&self) -> &'static [&'static str] {
        &["inquiry", "pay"]
    }

    fn capacity(&self) -> Option<usize> {
        Some(self.inquiries.len())
    }

    async fn run(&self, http: &HttpClient, i: usize) -> Op {
        let uri = &self.uris[i % self.uris.len()];
        let t0 = Instant::now();
        let inquiry = match http.post(uri, JSON, self.inquiries[i].clone()).await {
            Err(e) => return Op::err(e),
            Ok(a) => a,
        };
        let t1 = Instant::now();
        let tr_id = match iak_rc(inquiry.status, &inquiry.body) {
            Ok("00") => match scan::field_i64(&inquiry.body, "tr_id") {
                Some(t) => t,
                None => return Op::err("inquiry RC 00 without a tr_id"),
            },
            Ok(rc) => return Op::err(format!("inquiry RC {rc}")),
            Err(e) => return Op::err(format!("inquiry {e}")),
        };
        let (username, key) = &self.signers[i % self.signers.len()];
        let pay = iak_pay_body(username, key, tr_id);
        let answer = http.post(uri, JSON, pay).await;
        let t2 = Instant::now();
        let phases = [Some(t1 - t0), Some(t2 - t1)];
        match answer {
            Err(e) => Op::err(format!("pay {e}")),
            Ok(a) => match iak_rc(a.status, &a.body) {
                Ok("00") => Op::ok(),
                Ok(rc) => Op::err(format!("pay RC {rc}")),
                Err(e) => Op::err(format!("pay {e}")),
            },
        }
        .with_phases(phases)
    }
}

/// Signed isikuota sandbox inquiries (`testing: true`), one prepared body per operation.
pub struct IsikuotaInquiryFlow {
    uris: Vec<Uri>,
    bodies: Vec<Bytes>,
}

impl IsikuotaInquiryFlow {
    /// `count` inquiries of MPBPJS `1234567890`, member `i % len` for operation `i`, ref_ids
    /// `{prefix}{i}`, all stamped with the current time (valid for the server's timestamp window:
    /// 300 s by default, longer than a run).
    pub fn prepare(
        bases: &[String],
        members: &[Member],
        prefix: &str,
        count: usize,
    ) -> Result<IsikuotaInquiryFlow, String> {
        if members.is_empty() {
            return Err("no member".into());
        }
        let clients: Vec<IsikuotaClient> = members
            .iter()
            .map(|m| IsikuotaClient::new("http://127.0.0.1", &m.api_id, &m.api_key, &m.secret_key))
            .collect();
        let timestamp = clients[0].now();
        let bodies = build_parallel(count.max(1), |i| {
            let c = &clients[i % clients.len()];
            let ref_id = format!("{prefix}{i}");
            let params =
                IsikuotaClient::inquiry_params(ISIKUOTA_CODE, ISIKUOTA_NUMBER, Some(&ref_id), true);
            Bytes::from(c.signed_body(params, timestamp))
        });
        Ok(IsikuotaInquiryFlow {
            uris: targets(bases, ISIKUOTA_PATH)?,
            bodies,
        })
    }
}

impl Flow for IsikuotaInquiryFlow {
    fn capacity(&self) -> Option<usize> {
        Some(self.bodies.len())
    }

    async fn run(&self, http: &HttpClient, i: usize) -> Op {
        let uri = &self.uris[i % self.uris.len()];
        match http.post(uri, JSON, self.bodies[i].clone()).await {
            Err(e) => Op::err(e),
            Ok(a) => match scan::field_str(&a.body, "code") {
                Some(ISIKUOTA_EXPECTED) if a.status == 200 => Op::ok(),
                Some(code) => Op::err(format!("HTTP {} {code}", a.status)),
                None => Op::err(format!("HTTP {} without a code", a.status)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_signed_json() {
        let b = iak_inquiry_body("0812", "key", PGAS, PGAS_NUMBER, "r1");
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["commands"], "inq-pasca");
        assert_eq!(v["sign"], iak_sign::sign("0812", "key", "r1"));
        let p = iak_pay_body("0812", "key", 77);
        let v: serde_json::Value = serde_json::from_slice(&p).unwrap();
        assert_eq!(v["tr_id"], 77);
        assert_eq!(v["sign"], iak_sign::sign("0812", "key", "77"));
    }

    #[test]
    fn parallel_build_keeps_order() {
        let v = build_parallel(1001, |i| i * 2);
        assert_eq!(v.len(), 1001);
        assert!(v.iter().enumerate().all(|(i, x)| *x == i * 2));
        assert!(build_parallel(0, |i| i).is_empty());
    }

    #[test]
    fn run_tags_are_short_base36() {
        assert_eq!(to_base36(0), "0");
        assert_eq!(to_base36(35), "z");
        assert_eq!(to_base36(36), "10");
        assert!(run_tag().len() <= 7);
    }
}
