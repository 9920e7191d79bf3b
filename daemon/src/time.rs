//! RFC 3339 timestamps without a date library: docker's JSON has both unix
//! seconds (`images/json` Created) and RFC 3339 strings (`inspect`).

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

use berth_runtime::state::civil_from_days;

pub fn rfc3339(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86400));
    let t = secs.rem_euclid(86400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", t / 3600, t / 60 % 60, t % 60)
}

/// Now, to the nanosecond (fixed width, so the strings sort as the times do).
pub fn rfc3339_now() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let s = rfc3339(d.as_secs() as i64);
    format!("{}.{:09}Z", s.trim_end_matches('Z'), d.subsec_nanos())
}

/// Unix seconds of `2023-11-14T22:13:20.123Z` or `…+02:00`.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let n = |a: usize, z: usize| s.get(a..z)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (n(0, 4)?, n(5, 7)?, n(8, 10)?, n(11, 13)?, n(14, 16)?, n(17, 19)?);
    let mut rest = &s[19..];
    if let Some(r) = rest.strip_prefix('.') {
        rest = r.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let off = match rest {
        "Z" | "z" => 0,
        r if r.len() == 6 && (r.starts_with('+') || r.starts_with('-')) => {
            let v = r[1..3].parse::<i64>().ok()? * 3600 + r[4..6].parse::<i64>().ok()? * 60;
            if r.starts_with('-') { -v } else { v }
        }
        _ => return None,
    };
    Some(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off)
}

/// A Go duration as docker's `until` takes it: `10m`, `1h30m`, `90s`.
pub fn go_duration(s: &str) -> Option<i64> {
    let (mut total, mut num, mut any) = (0f64, String::new(), false);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') || c == 'u' || c == 'n' || c == 'µ' {
            if let Some(n) = chars.next() {
                unit.push(n);
            }
        }
        let v: f64 = num.parse().ok()?;
        num.clear();
        total += v * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        any = true;
    }
    (any && num.is_empty()).then_some(total as i64)
}

/// docker's `until`/timestamp forms: unix seconds, RFC 3339, `2006-01-02`,
/// or a duration before now.
pub fn filter_timestamp(v: &str) -> crate::error::Result<i64> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    if let Ok(n) = v.split('.').next().unwrap_or("").parse::<i64>() {
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Ok(n);
        }
    }
    if let Some(t) = crate::time::parse_rfc3339(v).or_else(|| crate::time::parse_rfc3339(&format!("{v}T00:00:00Z"))) {
        return Ok(t);
    }
    go_duration(v).map(|d| now - d).ok_or_else(|| crate::error::Error::BadParameter(format!("invalid filter timestamp {v:?}: expected unix seconds, RFC 3339, or a duration like 10m")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_forms() {
        assert_eq!(go_duration("10m"), Some(600));
        assert_eq!(go_duration("1h30m"), Some(5400));
        assert_eq!(go_duration("1.5s"), Some(1));
        assert_eq!(go_duration("10"), None);
        assert_eq!(go_duration("10x"), None);
        assert_eq!(filter_timestamp("1700000000").unwrap(), 1_700_000_000);
        assert_eq!(filter_timestamp("2023-11-14T22:13:20Z").unwrap(), 1_700_000_000);
        assert_eq!(filter_timestamp("2023-11-14").unwrap(), 1_699_920_000);
        assert!(filter_timestamp("soon").is_err());
    }


    #[test]
    fn round_trip() {
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20.999999999Z"), Some(1_700_000_000));
        assert_eq!(parse_rfc3339("2023-11-15T00:13:20+02:00"), Some(1_700_000_000));
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
