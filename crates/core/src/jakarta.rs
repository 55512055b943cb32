//! Asia/Jakarta time (WIB, UTC+07:00, no daylight saving), which both protocols use for every
//! date they print, and which decides when a quote's day ends. A fixed offset needs no tz database.

/// Seconds east of UTC.
pub const OFFSET_SECS: i64 = 7 * 3600;

/// A civil date-time in Jakarta.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// Unix seconds -> Jakarta civil time.
pub fn civil(unix: i64) -> Civil {
    let local = unix + OFFSET_SECS;
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: (secs / 3600) as u32,
        minute: ((secs % 3600) / 60) as u32,
        second: (secs % 60) as u32,
    }
}

/// `YmdHis`: `20261121143005`, IAK's `datetime`.
pub fn ymdhis(unix: i64) -> String {
    let c = civil(unix);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// `YYYY-MM-DD HH:MM:SS`, isikuota's dates and the receipts'.
pub fn datetime(unix: i64) -> String {
    let c = civil(unix);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// RFC 3339 with the +07:00 offset: `2026-11-21T14:30:05+07:00`.
pub fn rfc3339(unix: i64) -> String {
    let c = civil(unix);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+07:00",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// The first second of the next Jakarta day after `unix`: a quote made at `unix` is valid while
/// `now < end_of_day(unix)`.
pub fn end_of_day(unix: i64) -> i64 {
    let local = unix + OFFSET_SECS;
    (local.div_euclid(86_400) + 1) * 86_400 - OFFSET_SECS
}

/// Howard Hinnant's days-from-civil inverse (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Current unix time in seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        // 2019-08-14 07:38:59 UTC is 14:38:59 in Jakarta.
        let t = 1_565_768_339;
        assert_eq!(datetime(t), "2019-08-14 14:38:59");
        assert_eq!(ymdhis(t), "20190814143859");
        assert_eq!(rfc3339(t), "2019-08-14T14:38:59+07:00");
        assert_eq!(datetime(0), "1970-01-01 07:00:00");
    }

    #[test]
    fn day_rolls_over_at_jakarta_midnight() {
        // 2026-11-21 16:59:59 UTC = 23:59:59 WIB; one second later is the next day.
        let t = 1_795_280_399;
        assert_eq!(datetime(t), "2026-11-21 23:59:59");
        assert_eq!(end_of_day(t), t + 1);
        assert_eq!(datetime(end_of_day(t)), "2026-11-22 00:00:00");
        assert_eq!(end_of_day(t + 1), t + 1 + 86_400);
    }

    #[test]
    fn leap_days() {
        assert_eq!(datetime(951_782_400 - OFFSET_SECS), "2000-02-29 00:00:00");
        assert_eq!(datetime(1_709_164_800 - OFFSET_SECS), "2024-02-29 00:00:00");
    }
}
