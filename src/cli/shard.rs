//! The scale-out flags (audioperf extensions): `--shard-index`,
//! `--shard-count` and `--start-at`, checked once into
//! [`Shard`](crate::config::Shard) and a wall-clock start time.

use super::ProfileArgs;
use crate::config::{FlagError, Shard};

/// Kubernetes' Indexed Job puts each pod's index in this variable.
pub const JOB_INDEX_VAR: &str = "JOB_COMPLETION_INDEX";

/// `--shard-index`/`--shard-count` and `--start-at`, validated.
/// `request_count` is the run's (u64::MAX: bounded by its duration only).
pub(super) fn shard_flags(
    a: &ProfileArgs,
    request_count: u64,
) -> Result<(Option<Shard>, Option<u64>), FlagError> {
    let start_at = a
        .start_at
        .as_deref()
        .map(parse_start_at)
        .transpose()
        .map_err(|m| FlagError::new("--start-at", m))?;
    let shard = match (a.shard_index, a.shard_count) {
        (None, None) => None,
        (Some(i), None) => {
            // An Indexed Job that does not shard its pods still sets the
            // variable: an index that came from it alone means nothing.
            if std::env::var(JOB_INDEX_VAR).is_ok_and(|v| v.trim() == i.to_string()) {
                None
            } else {
                return Err(FlagError::new(
                    "--shard-index",
                    "needs --shard-count (or AUDIOPERF_SHARD_COUNT): how many shards the run has",
                ));
            }
        }
        (index, Some(count)) => {
            let index = index.unwrap_or(0);
            if index >= count {
                return Err(FlagError::new(
                    "--shard-index",
                    format!(
                        "{index} is out of range for --shard-count {count}; allowed: 0 to {}",
                        count - 1
                    ),
                ));
            }
            Some(Shard { index, count })
        }
    };
    if let Some(s) = shard.filter(|s| s.count > 1) {
        let n = s.count;
        let closed_loop = a.request_rate.is_none();
        let concurrency = a.concurrency.unwrap_or(super::defaults::CONCURRENCY);
        if (closed_loop || a.concurrency.is_some()) && concurrency < n {
            return Err(FlagError::new(
                "--concurrency",
                format!(
                    "{concurrency} cannot be split over --shard-count {n}: every shard needs at least one connection (give --concurrency {n} or more)"
                ),
            ));
        }
        if request_count != u64::MAX && request_count < u64::from(n) {
            return Err(FlagError::new(
                "--request-count",
                format!(
                    "{request_count} cannot be split over --shard-count {n}: every shard needs at least one request"
                ),
            ));
        }
    }
    Ok((shard, start_at))
}

/// `--start-at`: an RFC 3339 date-time (`2026-12-02T14:25:00.5Z`,
/// `...+01:00`) or Unix seconds (`1796221500.5`), as ns since the epoch.
pub fn parse_start_at(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "'{text}' is not a time; allowed: RFC 3339 (e.g. 2026-12-02T14:25:00.5Z or 2026-12-02T15:25:00+01:00) or Unix seconds (e.g. 1796221500)"
        )
    };
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
        let secs: u64 = whole.parse().map_err(|_| bad())?;
        let frac_ns = fraction_ns(frac).ok_or_else(bad)?;
        return secs
            .checked_mul(1_000_000_000)
            .and_then(|ns| ns.checked_add(frac_ns))
            .ok_or_else(|| format!("'{text}' is too far in the future"));
    }
    let b = t.as_bytes();
    // YYYY-MM-DDTHH:MM:SS, then an optional fraction, then Z or +-HH:MM.
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<u64, String> {
        let s = &t[r];
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &t[19..];
    let mut frac_ns = 0;
    if let Some(f) = rest.strip_prefix('.') {
        let digits = f.bytes().take_while(u8::is_ascii_digit).count();
        frac_ns = fraction_ns(&f[..digits]).ok_or_else(bad)?;
        rest = &f[digits..];
    }
    let offset_s: i64 = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return Err(bad()),
            };
            let (h, m) = (
                num_in(&rest[1..3]).ok_or_else(bad)?,
                num_in(&rest[4..6]).ok_or_else(bad)?,
            );
            if h > 23 || m > 59 {
                return Err(bad());
            }
            sign * (h * 3600 + m * 60) as i64
        }
        _ => {
            return Err(format!(
                "{}: the time needs a UTC offset (Z or +HH:MM)",
                bad()
            ))
        }
    };
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(format!(
            "'{text}' is not a valid date and time of day (from 1970 on)"
        ));
    }
    let days = days_from_civil(year as i64, month as i64, day as i64);
    let secs = days * 86_400 + (hour * 3600 + minute * 60 + second) as i64 - offset_s;
    let secs = u64::try_from(secs).map_err(|_| format!("'{text}' is before 1970"))?;
    Ok(secs * 1_000_000_000 + frac_ns)
}

fn num_in(s: &str) -> Option<u64> {
    s.bytes()
        .all(|c| c.is_ascii_digit())
        .then(|| s.parse().ok())
        .flatten()
}

/// ".5" → 500 ms in ns; digits past the ninth are dropped.
fn fraction_ns(digits: &str) -> Option<u64> {
    if !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut ns = 0;
    for i in 0..9 {
        let d = digits.as_bytes().get(i).map_or(0, |c| u64::from(c - b'0'));
        ns = ns * 10 + d;
    }
    Some(ns)
}

fn days_in_month(year: u64, month: u64) -> u64 {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_at_reads_rfc3339_and_unix_seconds() {
        // date -u -d 2026-12-02T14:25:00Z +%s → 1796221500
        let base = 1_796_221_500u64 * 1_000_000_000;
        assert_eq!(parse_start_at("2026-12-02T14:25:00Z"), Ok(base));
        assert_eq!(
            parse_start_at("2026-12-02T14:25:00.5Z"),
            Ok(base + 500_000_000)
        );
        assert_eq!(parse_start_at("2026-12-02T14:25:00+00:00"), Ok(base));
        assert_eq!(parse_start_at("2026-12-02T15:25:00+01:00"), Ok(base));
        assert_eq!(parse_start_at("2026-12-02t13:55:00-00:30"), Ok(base));
        assert_eq!(parse_start_at("1796221500"), Ok(base));
        assert_eq!(parse_start_at("1796221500.25"), Ok(base + 250_000_000));
        assert_eq!(parse_start_at("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            parse_start_at("2024-02-29T00:00:00.123456789123Z"),
            Ok(1_709_164_800_123_456_789)
        );
        for bad in [
            "",
            "tomorrow",
            "2026-12-02T14:25:00",
            "2026-02-30T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-12-02T24:00:00Z",
            "2026-12-02T14:25:00+1:00",
            "2026-12-02T14:25:00.Zx",
            "1.2.3",
            "-5",
            "99999999999999999999",
        ] {
            assert!(parse_start_at(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
