//! The sizes and durations users type (`64K`, `1M`, `16MiB`, `4096`; `10s`, `500ms`), parsed
//! and printed back, and the UTC time stamps in run ids.

use std::time::Duration;

use thiserror::Error;

/// The largest message netcopy accepts: 1 GiB.
pub const MAX_SIZE: u64 = 1 << 30;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum UnitError {
    #[error("size {0:?} is not a number of bytes with an optional K, M or G suffix (e.g. 64K)")]
    BadSize(String),
    #[error("duration {0:?} is not a number with a unit of us, ms, s, m or h (e.g. 10s, 500ms)")]
    BadDuration(String),
}

/// Parse a byte count: plain bytes or a binary suffix (`K`/`KiB` = 1024, `M`, `G`), any case.
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let bad = || UnitError::BadSize(text.to_owned());
    let t = text.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, suffix) = t.split_at(digits_end);
    if num.is_empty() {
        return Err(bad());
    }
    let num: u64 = num.parse().map_err(|_| bad())?;
    let shift = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(bad()),
    };
    num.checked_mul(1 << shift).ok_or_else(bad)
}

/// Format a byte count the way `parse_size` reads it back, e.g. `65536` -> `64K`.
pub fn format_size(bytes: u64) -> String {
    for (shift, unit) in [(30, "G"), (20, "M"), (10, "K")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// Parse a duration: a decimal number with `us` (or `µs`), `ms`, `s`, `m` or `h`; a bare
/// number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let bad = || UnitError::BadDuration(text.to_owned());
    let t = text.trim();
    let num_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(num_end);
    let value: f64 = num.parse().map_err(|_| bad())?;
    let scale = match unit.trim() {
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(value * scale).map_err(|_| bad())
}

/// `t` as a compact UTC timestamp for names: `20261125T075512Z`.
pub fn utc_stamp(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_the_seed_matrix_parse() {
        assert_eq!(parse_size("1K"), Ok(1024));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("4MiB"), Ok(4 << 20));
        assert_eq!(parse_size("16M"), Ok(16 << 20));
        assert_eq!(parse_size("1G"), Ok(MAX_SIZE));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size(" 12 B "), Ok(12));
    }

    #[test]
    fn bad_sizes_are_refused() {
        for bad in [
            "",
            "K",
            "1.5K",
            "-1",
            "12Q",
            "1KK",
            "99999999999999999999",
            "18446744073709551615G",
        ] {
            assert_eq!(
                parse_size(bad),
                Err(UnitError::BadSize(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn sizes_format_back() {
        for s in [
            1u64,
            1000,
            1024,
            4096,
            65536,
            1 << 20,
            16 << 20,
            1 << 30,
            1536,
        ] {
            assert_eq!(parse_size(&format_size(s)), Ok(s));
        }
        assert_eq!(format_size(65536), "64K");
        assert_eq!(format_size(1536), "1536");
    }

    #[test]
    fn utc_stamps() {
        let at = |s| std::time::UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(utc_stamp(at(0)), "19700101T000000Z");
        assert_eq!(utc_stamp(at(951_782_400)), "20000229T000000Z");
        assert_eq!(utc_stamp(at(1_795_600_000)), "20261125T094640Z");
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("100us"), Ok(Duration::from_micros(100)));
        assert_eq!(parse_duration("2µs"), Ok(Duration::from_micros(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        for bad in ["", "s", "ten", "-1s", "1.2.3s", "5 parsecs", "1e400"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
