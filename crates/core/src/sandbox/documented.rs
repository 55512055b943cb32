//! Rule 1 and the documented data (`spec/sandbox.md`, "Data the sandbox answers"): the exact
//! numbers each documented profile lists, and the example bills those profiles answer field for
//! field. Documented bills use the documented admin and commission whatever the catalogue says;
//! only their cost follows the product's `biller_commission`.

use super::{pln_paid_desc, Draft, PaymentScenario};
use crate::{Rc, Rupiah};
use serde_json::json;
use std::sync::{Arc, OnceLock};

/// A documented data set, named by a product's `sandbox_profile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Profile {
    /// `PLNNONTAG`, `PLNNONH`: JAYUSMAN.
    PlnNontag,
    /// `PBBKOT.CIMAHI`: TESTING PBB.
    PbbCimahi,
    /// `PGAS`: NGATIMUN.
    Pgas,
    /// `PLNPOSTPAID`: SUBCRIBER NAME (one bill, or eight for `530000000999`).
    PlnPostpaid,
    /// `MPBPJS` (isikuota): Demo Member, for every number.
    MpBpjs,
}

impl Profile {
    /// An unknown profile name is no profile: the product's bills are generated.
    pub(super) fn parse(s: &str) -> Option<Profile> {
        match s {
            "plnnontag" => Some(Profile::PlnNontag),
            "pbb-cimahi" => Some(Profile::PbbCimahi),
            "pgas" => Some(Profile::Pgas),
            "plnpostpaid" => Some(Profile::PlnPostpaid),
            "mpbpjs" => Some(Profile::MpBpjs),
            _ => None,
        }
    }
}

/// What a rule-1 number answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Listed {
    /// The inquiry succeeds with the profile's documented bill; the payment ends so.
    Bill(PaymentScenario),
    /// The inquiry fails with this RC.
    InquiryFails(Rc),
}

const PAID: Listed = Listed::Bill(PaymentScenario::Success);
const PENDING_THEN_PAID: Listed = Listed::Bill(PaymentScenario::Pending {
    answer: Rc::Pending,
    then: Some(Rc::Success),
});
const PAYMENT_FAILS_37: Listed = Listed::Bill(PaymentScenario::Fail(Rc::PaymentFailed));
const PAYMENT_FAILS_105: Listed = Listed::Bill(PaymentScenario::Fail(Rc::BillerSystemError));
const INQUIRY_103: Listed = Listed::InquiryFails(Rc::Timeout);
const INQUIRY_01: Listed = Listed::InquiryFails(Rc::InvoiceHasBeenPaid);
const INQUIRY_14: Listed = Listed::InquiryFails(Rc::IncorrectDestinationNumber);

/// The documented tables (seed 001 and `spec/sandbox.md`).
const TABLE: &[(Profile, &str, Listed)] = &[
    (Profile::PlnNontag, "3225030005901", PAID),
    (Profile::PlnNontag, "3225030005902", PAID),
    (Profile::PlnNontag, "3225030005903", INQUIRY_103),
    (Profile::PlnNontag, "3225030005904", INQUIRY_01),
    (Profile::PlnNontag, "3225030005905", INQUIRY_14),
    (Profile::PlnNontag, "3225030005906", PAYMENT_FAILS_37),
    (Profile::PlnNontag, "3225030005907", PENDING_THEN_PAID),
    (Profile::PlnNontag, "3225030005908", PAYMENT_FAILS_105),
    (Profile::PlnNontag, "3225030005922", PAID),
    (Profile::PlnNontag, "1811217010329", PAID),
    (Profile::PlnNontag, "3226015008229", PAID),
    (Profile::PbbCimahi, "329801092375999901", PAID),
    (Profile::PbbCimahi, "329801092375999903", INQUIRY_103),
    (Profile::PbbCimahi, "329801092375999904", INQUIRY_01),
    (Profile::PbbCimahi, "329801092375999905", INQUIRY_14),
    (Profile::PbbCimahi, "329801092375999906", PAYMENT_FAILS_37),
    (Profile::PbbCimahi, "329801092375999907", PENDING_THEN_PAID),
    (Profile::PbbCimahi, "329801092375999908", PAYMENT_FAILS_105),
    (Profile::Pgas, "0110014601", PAID),
    (Profile::Pgas, "0110014603", INQUIRY_103),
    (Profile::Pgas, "0110014604", INQUIRY_01),
    (Profile::Pgas, "0110014605", INQUIRY_14),
    (Profile::Pgas, "0110014606", PAYMENT_FAILS_37),
    (Profile::Pgas, "0110014607", PENDING_THEN_PAID),
    (Profile::Pgas, "0110014608", PAYMENT_FAILS_105),
];

/// Rule 1: what the profile's table says of `number`, if anything.
pub(super) fn listed(profile: Profile, number: &str) -> Option<Listed> {
    if profile == Profile::MpBpjs {
        return Some(PAID);
    }
    TABLE
        .iter()
        .find(|(p, n, _)| *p == profile && *n == number)
        .map(|(_, _, listed)| *listed)
}

/// `PLNNONTAG`'s documented payment reference.
pub(super) const JAYUSMAN_NOREF: &str = "18147159";
/// `PBBKOT.CIMAHI`'s documented payment reference.
pub(super) const TESTING_PBB_NOREF: &str = "190814738977";
/// `PGAS`'s documented payment reference.
pub(super) const NGATIMUN_NOREF: &str = "244183135447";
/// IAK documents no reference for `PLNPOSTPAID`: loket answers this one (the documented last
/// period, `201608`, then a serial), for one bill and for eight.
pub(super) const SUBCRIBER_NOREF: &str = "201608000001";
/// isikuota documents no `sn` for `MPBPJS`: loket answers this one (BPJS's `88` family, then the
/// documented `tagihan` zero-padded).
pub(super) const DEMO_MEMBER_NOREF: &str = "880000022500";

/// Meter readings the documented `PLNPOSTPAID` payment adds to every detail.
const SUBCRIBER_METER: &str = "00080000";

/// The profile's documented bill. `many` asks for the several-bill version (`0999`), which only
/// `plnpostpaid` has (8 bills); the other profiles answer their one bill.
pub(super) fn bill(profile: Profile, many: bool) -> Draft {
    // Documented bills never change: each is built once and cloned (its `desc`s shared).
    const PROFILES: usize = 5;
    static BUILT: [OnceLock<Draft>; 2 * PROFILES] = [const { OnceLock::new() }; 2 * PROFILES];
    let index = 2 * profile as usize + usize::from(many);
    BUILT[index].get_or_init(|| build(profile, many)).clone()
}

fn build(profile: Profile, many: bool) -> Draft {
    match profile {
        Profile::PlnNontag => jayusman(),
        Profile::PbbCimahi => testing_pbb(),
        Profile::Pgas => ngatimun(),
        Profile::PlnPostpaid => subcriber(if many { 8 } else { 1 }),
        Profile::MpBpjs => demo_member(),
    }
}

fn jayusman() -> Draft {
    let desc = json!({
        "transaksi": "PENYAMBUNGAN BARU",
        "no_registrasi": "5392112011703",
        "tanggal_registrasi": "20120524",
    });
    Draft {
        name: "JAYUSMAN".into(),
        period: String::new(),
        nominal: Rupiah::new(696_400),
        admin: Rupiah::new(1_600),
        commission: Rupiah::new(1_800),
        sheets: 1,
        paid_desc: Arc::new(desc.clone()),
        desc: Arc::new(desc),
        noref: JAYUSMAN_NOREF.into(),
    }
}

fn testing_pbb() -> Draft {
    let desc = json!({
        "tanggal": "2019-08-14 14:38:59",
        "nop": "328073000401005610",
        "tahun_pajak": "2019",
        "lokasi": "KO. GRIYA ASRI CIPAGERAN",
        "kelurahan": "CIPAGERAN",
        "kecamatan": "CIMAHI UTARA",
        "kode_kab_kota": "0023",
        "kab_kota": "PEMKOT CIMAHI",
        "luas_tanah": "113 M2",
        "luas_gedung": "47 M2",
        "jatuh_tempo": "31/10/2019",
        "total_tagihan": 203_857,
        "denda": 0,
        "admin": 5_000,
        "total_bayar": 208_857,
    });
    Draft {
        name: "TESTING PBB".into(),
        period: "201909".into(),
        nominal: Rupiah::new(203_857),
        admin: Rupiah::new(5_000),
        commission: Rupiah::ZERO,
        sheets: 1,
        paid_desc: Arc::new(desc.clone()),
        desc: Arc::new(desc),
        noref: TESTING_PBB_NOREF.into(),
    }
}

fn ngatimun() -> Draft {
    let desc = json!({
        "address": "-",
        "first_meter": "006538",
        "last_meter": "006573",
        "usage": 35,
    });
    Draft {
        name: "NGATIMUN".into(),
        period: "0917".into(),
        nominal: Rupiah::new(322_002),
        admin: Rupiah::new(2_500),
        commission: Rupiah::new(600),
        sheets: 1,
        paid_desc: Arc::new(desc.clone()),
        desc: Arc::new(desc),
        noref: NGATIMUN_NOREF.into(),
    }
}

/// `PLNPOSTPAID`: `sheets` bills of Rp 300.000 + 2.500 admin, the last one for 201608 (so 8 bills
/// are 201601..201608).
fn subcriber(sheets: u32) -> Draft {
    const NILAI: i64 = 300_000;
    const ADMIN: i64 = 2_500;
    const COMMISSION: i64 = 600;
    let n = i64::from(sheets);
    let periods: Vec<String> = (0..sheets)
        .map(|i| format!("2016{:02}", 9 - sheets + i))
        .collect();
    let detail: Vec<_> = periods
        .iter()
        .map(|p| {
            json!({
                "periode": p,
                "nilai_tagihan": NILAI.to_string(),
                "admin": ADMIN.to_string(),
                "denda": "0",
                "total": NILAI + ADMIN,
            })
        })
        .collect();
    let desc = json!({
        "tarif": "R1",
        "daya": 1300,
        "lembar_tagihan": sheets.to_string(),
        "tagihan": { "detail": detail },
    });
    let meters = vec![(SUBCRIBER_METER.to_string(), SUBCRIBER_METER.to_string()); periods.len()];
    Draft {
        name: "SUBCRIBER NAME".into(),
        period: periods.join(","),
        nominal: Rupiah::new(NILAI * n),
        admin: Rupiah::new(ADMIN * n),
        commission: Rupiah::new(COMMISSION * n),
        sheets,
        paid_desc: Arc::new(pln_paid_desc(&desc, &meters)),
        desc: Arc::new(desc),
        noref: SUBCRIBER_NOREF.into(),
    }
}

fn demo_member() -> Draft {
    let desc = json!({
        "jumlah_peserta": "2",
        "lembar_tagihan": 1,
        "alamat": "JAKARTA PUSAT",
        "detail": [{ "periode": "01" }],
    });
    Draft {
        name: "Demo Member".into(),
        period: "01".into(),
        nominal: Rupiah::new(22_500),
        admin: Rupiah::new(2_700),
        commission: Rupiah::ZERO,
        sheets: 1,
        paid_desc: Arc::new(desc.clone()),
        desc: Arc::new(desc),
        noref: DEMO_MEMBER_NOREF.into(),
    }
}
