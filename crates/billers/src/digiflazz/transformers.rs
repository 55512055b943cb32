//! Digiflazz's wire types, its response-code table, and the mapping of its answers onto loket's
//! outcomes.
//!
//! Digiflazz answers `{"data": {ref_id, customer_no, customer_name, buyer_sku_code, admin,
//! message, status, rc, sn, buyer_last_saldo, price, selling_price, desc}}` where `status` is
//! `Sukses`, `Gagal` or `Pending`. Its documentation also says, for each RC, whether a
//! transaction was formed ("Transaksi Terbentuk"): an RC that formed none refused the request
//! before any processing. [`rc_info`] is that table, with the loket [`Rc`] each code is reported
//! as; [`inquiry_outcome`], [`pay_outcome`] and [`status_outcome`] say what each code means at
//! each step.

use hmac::{Hmac, Mac};
use loket_client::error::ClientError;
use loket_client::iak_sign::sign;
use loket_core::upstream::{
    InquiryOutcome, PayOutcome, UpstreamBill, UpstreamInquiry, UpstreamPayment,
};
use loket_core::{Rc, RcStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha1::Sha1;

use crate::wire::{amount, detail_periods, snippet, text, transport_reason};

// --------------------------------------------------------------------------------- wire types

/// The three postpaid commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Inquiry,
    Pay,
    Status,
}

impl Command {
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Inquiry => "inq-pasca",
            Command::Pay => "pay-pasca",
            Command::Status => "status-pasca",
        }
    }
}

/// A `POST /v1/transaction` body, fields in Digiflazz's documented order. `testing` is written
/// only when true; `year` (PBB) and `amount` (custom-amount products) only at inquiry when the
/// inquiry has them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransactionRequest<'a> {
    pub commands: &'static str,
    pub username: &'a str,
    pub buyer_sku_code: &'a str,
    pub customer_no: &'a str,
    pub ref_id: &'a str,
    /// `md5(username + api_key + ref_id)`, lowercase hex.
    pub sign: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub testing: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub year: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
}

impl<'a> TransactionRequest<'a> {
    pub fn new(
        command: Command,
        username: &'a str,
        api_key: &str,
        buyer_sku_code: &'a str,
        customer_no: &'a str,
        ref_id: &'a str,
        testing: bool,
    ) -> Self {
        TransactionRequest {
            commands: command.as_str(),
            username,
            buyer_sku_code,
            customer_no,
            ref_id,
            sign: sign(username, api_key, ref_id),
            testing,
            year: None,
            amount: None,
        }
    }
}

/// Digiflazz documents `year` as an integer: sent as one when it is digits, else as received.
pub fn year(year: Option<&str>) -> Option<Value> {
    let y = year?.trim();
    Some(match y.parse::<i64>() {
        Ok(n) if y.bytes().all(|b| b.is_ascii_digit()) => Value::from(n),
        _ => Value::from(y),
    })
}

/// An HTTP answer of Digiflazz, whatever its status.
#[derive(Debug, Clone)]
pub struct DigiflazzResponse {
    pub http_status: u16,
    /// The body as text (lossy if it was not UTF-8).
    pub body: String,
    /// The parsed body; `Null` when it is not JSON.
    pub json: Value,
}

impl DigiflazzResponse {
    pub fn parse(http_status: u16, body: &[u8]) -> Self {
        DigiflazzResponse {
            http_status,
            body: String::from_utf8_lossy(body).into_owned(),
            json: serde_json::from_slice(body).unwrap_or(Value::Null),
        }
    }

    /// The `data` object, read.
    fn data(&self) -> Option<DigiflazzData> {
        data_of(&self.json)
    }
}

/// The `data` of a transaction answer (and of a webhook). Values stay JSON values: Digiflazz
/// sends numbers where its documentation says so, but a lenient reader costs nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DigiflazzData {
    pub ref_id: Option<Value>,
    pub customer_no: Option<Value>,
    pub customer_name: Option<Value>,
    pub buyer_sku_code: Option<Value>,
    pub admin: Option<Value>,
    pub message: Option<Value>,
    /// `Sukses` | `Gagal` | `Pending`.
    pub status: Option<Value>,
    pub rc: Option<Value>,
    pub sn: Option<Value>,
    pub buyer_last_saldo: Option<Value>,
    /// What Digiflazz charges loket.
    pub price: Option<Value>,
    /// What the customer pays (the bill with admin).
    pub selling_price: Option<Value>,
    /// Top-level period, sent by some products.
    pub periode: Option<Value>,
    pub desc: Option<Value>,
}

impl DigiflazzData {
    fn rc(&self) -> Option<String> {
        text(self.rc.as_ref()).map(|r| r.trim().to_string())
    }

    /// `Sukses` | `Gagal` | `Pending`, as written.
    fn status(&self) -> Option<String> {
        text(self.status.as_ref()).map(|s| s.trim().to_string())
    }

    fn other_ref_id(&self, ours: &str) -> bool {
        matches!(text(self.ref_id.as_ref()), Some(r) if !r.is_empty() && r != ours)
    }

    fn describe(&self, rc: &str) -> String {
        match text(self.message.as_ref()) {
            Some(m) if !m.is_empty() => format!("RC {rc} {}", snippet(&m)),
            _ => format!("RC {rc}"),
        }
    }
}

fn data_of(json: &Value) -> Option<DigiflazzData> {
    match json.get("data") {
        Some(d @ Value::Object(_)) => serde_json::from_value(d.clone()).ok(),
        _ => None,
    }
}

fn status_is(status: Option<&str>, want: &str) -> bool {
    status.is_some_and(|s| s.eq_ignore_ascii_case(want))
}

// ----------------------------------------------------------------------------------- RC table

/// One row of Digiflazz's response-code table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigiflazzRc {
    /// Digiflazz's message (Indonesian, as documented).
    pub message: &'static str,
    /// The status Digiflazz gives the code.
    pub status: RcStatus,
    /// Whether the code means a transaction was formed ("Transaksi Terbentuk"). A failure that
    /// formed no transaction refused the request before any processing.
    pub formed: bool,
    /// The loket RC this code is reported as: the member's view, so that loket's own float,
    /// credentials or account at Digiflazz read as a biller error (105).
    pub rc: Rc,
}

/// Digiflazz's response codes (buyer API), as its documentation lists them.
pub fn rc_info(code: &str) -> Option<DigiflazzRc> {
    use Rc::*;
    use RcStatus::{Failed as F, Pending as P, Success as S};
    let row = |message, status, formed, rc| {
        Some(DigiflazzRc {
            message,
            status,
            formed,
            rc,
        })
    };
    match code {
        "00" => row("Transaksi Sukses", S, true, Success),
        "01" => row("Timeout", F, true, Timeout),
        "02" => row("Transaksi Gagal", F, true, TransactionFailed),
        "03" => row("Transaksi Pending", P, true, Pending),
        // Request or account errors: no transaction formed.
        "40" => row("Payload Error", F, false, BillerSystemError),
        "41" => row("Signature tidak valid", F, false, BillerSystemError),
        "42" => row("Gagal memproses API Buyer", F, false, BillerSystemError),
        "43" => row(
            "SKU tidak di temukan atau Non-Aktif",
            F,
            false,
            ProductUnregistered,
        ),
        "44" => row("Saldo tidak cukup", F, false, BillerSystemError),
        "45" => row("IP Anda tidak kami kenali", F, false, BillerSystemError),
        "47" => row(
            "Transaksi sudah terjadi di buyer lain",
            F,
            false,
            TransactionFailed,
        ),
        "49" => row("Ref ID tidak unik", F, false, DuplicateRefId),
        // Failures of a formed transaction.
        "50" => row("Transaksi Tidak Ditemukan", F, true, InquiryIdNotFound),
        "51" => row("Nomor Tujuan Diblokir", F, true, CustomerNumberBlocked),
        "52" => row(
            "Prefix Tidak Sesuai Dengan Operator",
            F,
            true,
            NumberDoesntMatchOperator,
        ),
        "53" => row(
            "Produk Seller Sedang Tidak Tersedia",
            F,
            true,
            ProductOutOfService,
        ),
        "54" => row("Nomor Tujuan Salah", F, true, IncorrectDestinationNumber),
        "55" => row("Produk Sedang Gangguan", F, true, ProductOutOfService),
        "56" => row("Limit saldo seller", F, false, BillerSystemError),
        "57" => row(
            "Jumlah Digit Kurang Atau Lebih",
            F,
            true,
            IncorrectDestinationNumber,
        ),
        "58" => row("Sedang Cut Off", F, true, SystemCutOff),
        "59" => row(
            "Tujuan di Luar Wilayah/Cluster",
            F,
            true,
            NumberNotSupported,
        ),
        "60" => row("Tagihan belum tersedia", F, true, BillNotAvailable),
        "61" => row(
            "Belum pernah melakukan deposit",
            F,
            false,
            BillerSystemError,
        ),
        "62" => row(
            "Seller sedang mengalami gangguan",
            F,
            false,
            BillerSystemError,
        ),
        "63" => row("Tidak support transaksi multi", F, false, BillerSystemError),
        "64" => row(
            "Tarik tiket gagal, coba nominal lain",
            F,
            false,
            TransactionFailed,
        ),
        "65" => row("Limit transaksi multi", F, false, BillerSystemError),
        "66" => row("Cut Off (Perbaikan Sistem Seller)", F, false, Maintenance),
        "67" => row("Seller belum ter-verifikasi", F, false, BillerSystemError),
        "68" => row("Stok habis", F, false, ProductOutOfService),
        "69" => row(
            "Harga seller lebih besar dari ketentuan harga Buyer",
            F,
            false,
            BillerSystemError,
        ),
        "70" => row("Timeout Dari Biller", F, true, Timeout),
        "71" => row("Produk Sedang Tidak Stabil", F, true, ProductOutOfService),
        "72" => row("Lakukan Unreg Paket Dahulu", F, true, TransactionFailed),
        "73" => row("Kwh Melebihi Batas", F, true, TransactionFailed),
        "74" => row("Transaksi Refund", F, true, TransactionFailed),
        "80" => row(
            "Akun Anda telah diblokir oleh Seller",
            F,
            false,
            BillerSystemError,
        ),
        "81" => row(
            "Seller ini telah diblokir oleh Anda",
            F,
            false,
            BillerSystemError,
        ),
        "82" => row(
            "Akun Anda belum ter-verifikasi",
            F,
            false,
            BillerSystemError,
        ),
        "83" => row("Limitasi pengecekan pricelist", F, false, BillerSystemError),
        "84" => row("Nominal tidak valid", F, true, InvalidAmount),
        "85" => row("Limitasi transaksi", F, true, BillerSystemError),
        "86" => row("Limitasi pengecekan nomor PLN", F, true, BillerSystemError),
        "87" => row(
            "Transaksi E-money wajib kelipatan Rp 1.000",
            F,
            false,
            InvalidAmount,
        ),
        "88" => row(
            "Akun tidak dapat melakukan aksi ini",
            F,
            false,
            BillerSystemError,
        ),
        "99" => row("DF Router Issue", P, true, Pending),
        _ => None,
    }
}

// ------------------------------------------------------------------------------------ inquiry

/// An `inq-pasca` answer (or its absence) as an inquiry outcome.
///
/// | RC | outcome |
/// | --- | --- |
/// | 00 | `Bill { name: customer_name, nominal: selling_price - admin, admin, cost: price, period, desc }` |
/// | 02 | `Refused(09)` (inquiry failed) |
/// | 51, 52, 54, 57, 60 | `Refused(13 / 16 / 14 / 14 / 10)`: about the number or the bill |
/// | 01 (timeout), 03, 99 (pending: no bill to quote), 43, 44 (our balance), 45-50, 53, 55, 56, 58 (cut-off), 59 (outside this seller's cluster), 61-88 | `Unavailable` |
/// | any other, no RC, garbage, 5xx, transport | `Unavailable` |
///
/// Digiflazz's `selling_price` is the customer-facing total (bill plus admin) and `price` what it
/// charges loket, so the bill before admin is `selling_price - admin`. `period` is
/// `desc.detail[].periode` joined by `,`, else the top-level `periode`, else empty.
pub fn inquiry_outcome(
    req: &UpstreamInquiry,
    answer: Result<DigiflazzResponse, ClientError>,
) -> InquiryOutcome {
    let resp = match answer {
        Ok(resp) => resp,
        Err(e) => return InquiryOutcome::Unavailable(transport_reason(&e)),
    };
    if resp.http_status >= 500 {
        return InquiryOutcome::Unavailable(format!(
            "HTTP {}: {}",
            resp.http_status,
            snippet(&resp.body)
        ));
    }
    let Some(data) = resp.data() else {
        return InquiryOutcome::Unavailable(unparseable(&resp));
    };
    let Some(rc) = data.rc() else {
        return InquiryOutcome::Unavailable(unparseable(&resp));
    };
    if data.other_ref_id(&req.ref_id) {
        return InquiryOutcome::Unavailable("answer for another ref_id".into());
    }
    let status = data.status();
    match rc.as_str() {
        "00" if (200..300).contains(&resp.http_status)
            && status
                .as_deref()
                .is_none_or(|s| s.eq_ignore_ascii_case("Sukses")) =>
        {
            match bill(&data) {
                Ok(bill) => InquiryOutcome::Bill(bill),
                Err(why) => InquiryOutcome::Unavailable(why),
            }
        }
        "02" => InquiryOutcome::Refused(Rc::InquiryFailed),
        "51" | "52" | "54" | "57" | "60" => match rc_info(&rc) {
            Some(info) => InquiryOutcome::Refused(info.rc),
            None => InquiryOutcome::Unavailable(data.describe(&rc)),
        },
        _ => InquiryOutcome::Unavailable(data.describe(&rc)),
    }
}

fn bill(data: &DigiflazzData) -> Result<UpstreamBill, String> {
    let admin = amount(data.admin.as_ref(), "admin")?;
    let total = amount(data.selling_price.as_ref(), "selling_price")?;
    let nominal = total
        .checked_sub(admin)
        .filter(|n| !n.is_negative())
        .ok_or("answer with admin above selling_price")?;
    let desc = data
        .desc
        .clone()
        .filter(|d| !d.is_null())
        .unwrap_or_else(|| Value::Object(Map::new()));
    let period = detail_periods(&desc)
        .or_else(|| text(data.periode.as_ref()))
        .unwrap_or_default();
    Ok(UpstreamBill {
        name: text(data.customer_name.as_ref()).unwrap_or_default(),
        period,
        nominal,
        admin,
        cost: amount(data.price.as_ref(), "price")?,
        desc,
        upstream_ref: None,
    })
}

// ---------------------------------------------------------------------- payment, status, webhook

/// Which answer is being read: they differ only on a few codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Pay,
    Status,
    Webhook,
}

/// A transaction's `data` as a payment outcome.
///
/// | RC | pay-pasca | status-pasca | webhook |
/// | --- | --- | --- | --- |
/// | 00 | `Success { noref: sn, cost: price }` | the same, but only with a non-empty `sn` (else `Pending`: an inquiry-only record has none) | as status |
/// | 03, 99 | `Pending` | `Pending` | `Pending` |
/// | 01, 02 | `Failed(103)`, `Failed(07)` | the same | the same |
/// | 49 (ref_id not unique) | `Pending`: it may be loket's own earlier attempt, ask status | `Pending` | `Pending` |
/// | 50 (transaction not found) | `Failed(06)` | `Failed(42)`: the payment request never arrived (the resolver judges its age) | `Pending` |
/// | other failures that formed a transaction (51-55, 57-60, 70-74, 84-86) | `Failed(mapped)` | `Failed(mapped)` | `Failed(mapped)` |
/// | failures that formed none (40-47, 56, 61-69, 80-83, 87, 88: refused before processing) | `Failed(mapped)`: 44 and the account errors as 105, 43 as 20 | `Pending`: it is the status request that was refused | `Pending` |
/// | any other RC, no RC, an answer whose `status` contradicts its RC, another ref_id | `Pending` | `Pending` | `Pending` |
pub fn transaction_outcome(data: &DigiflazzData, step: Step) -> PayOutcome {
    let Some(rc) = data.rc() else {
        return PayOutcome::Pending("answer without an rc".into());
    };
    let status = data.status();
    let status = status.as_deref();
    if rc == "00" {
        if status.is_some() && !status_is(status, "Sukses") {
            return PayOutcome::Pending(format!("RC 00 with status {}", status.unwrap_or("")));
        }
        let sn = text(data.sn.as_ref()).unwrap_or_default();
        if step != Step::Pay && sn.trim().is_empty() {
            return PayOutcome::Pending("RC 00 without an sn".into());
        }
        return PayOutcome::Success {
            noref: sn,
            cost: amount(data.price.as_ref(), "price").ok(),
        };
    }
    let reason = data.describe(&rc);
    let Some(info) = rc_info(&rc) else {
        return PayOutcome::Pending(format!("unknown {reason}"));
    };
    if info.status != RcStatus::Failed
        || status_is(status, "Pending")
        || status_is(status, "Sukses")
    {
        return PayOutcome::Pending(reason);
    }
    match (step, rc.as_str()) {
        (_, "49") => PayOutcome::Pending(reason),
        (Step::Status, "50") => PayOutcome::Failed(Rc::PaymentRequestNotReceived),
        (Step::Webhook, "50") => PayOutcome::Pending(reason),
        (Step::Pay, _) => PayOutcome::Failed(info.rc),
        (Step::Status | Step::Webhook, _) if info.formed => PayOutcome::Failed(info.rc),
        (Step::Status | Step::Webhook, _) => PayOutcome::Pending(reason),
    }
}

fn answer_outcome(
    p: &UpstreamPayment,
    answer: Result<DigiflazzResponse, ClientError>,
    step: Step,
) -> PayOutcome {
    let resp = match answer {
        Ok(resp) => resp,
        Err(e) => return PayOutcome::Pending(transport_reason(&e)),
    };
    if resp.http_status >= 500 {
        return PayOutcome::Pending(format!(
            "HTTP {}: {}",
            resp.http_status,
            snippet(&resp.body)
        ));
    }
    let Some(data) = resp.data() else {
        return PayOutcome::Pending(unparseable(&resp));
    };
    if data.other_ref_id(&p.ref_id) {
        return PayOutcome::Pending("answer for another ref_id".into());
    }
    match transaction_outcome(&data, step) {
        PayOutcome::Success { .. } if !(200..300).contains(&resp.http_status) => {
            PayOutcome::Pending(format!("RC 00 with HTTP {}", resp.http_status))
        }
        outcome => outcome,
    }
}

/// A `pay-pasca` answer (or its absence) as a payment outcome: see [`transaction_outcome`]'s
/// table; garbage, 5xx and transport failures are `Pending`.
pub fn pay_outcome(
    p: &UpstreamPayment,
    answer: Result<DigiflazzResponse, ClientError>,
) -> PayOutcome {
    answer_outcome(p, answer, Step::Pay)
}

/// A `status-pasca` answer (or its absence) as a payment outcome: see [`transaction_outcome`]'s
/// table; garbage, 5xx and transport failures are `Pending`.
pub fn status_outcome(
    p: &UpstreamPayment,
    answer: Result<DigiflazzResponse, ClientError>,
) -> PayOutcome {
    answer_outcome(p, answer, Step::Status)
}

// ------------------------------------------------------------------------------------ webhook

/// Whether `header` (`X-Hub-Signature`) is `sha1=` and the lowercase or uppercase hex
/// HMAC-SHA1 of `body` with `secret`, compared in constant time. An empty secret verifies
/// nothing.
pub fn verify_webhook(secret: &str, body: &[u8], header: &str) -> bool {
    if secret.is_empty() {
        return false;
    }
    let header = header.trim();
    let Some(hex_sig) = header
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("sha1="))
        .and_then(|_| header.get(5..))
    else {
        return false;
    };
    let Ok(given) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// The `ref_id` a webhook body is about and what it says of the payment (read as a status answer:
/// see [`transaction_outcome`]'s table). `None` for a body that is not a Digiflazz transaction
/// (not JSON, no `data`, no `ref_id`). Verify the signature first.
pub fn parse_webhook(body: &[u8]) -> Option<(String, PayOutcome)> {
    let json: Value = serde_json::from_slice(body).ok()?;
    let data = data_of(&json)?;
    let ref_id = text(data.ref_id.as_ref()).filter(|r| !r.trim().is_empty())?;
    Some((ref_id, transaction_outcome(&data, Step::Webhook)))
}

fn unparseable(resp: &DigiflazzResponse) -> String {
    format!(
        "unparseable answer (HTTP {}): {}",
        resp.http_status,
        snippet(&resp.body)
    )
}
