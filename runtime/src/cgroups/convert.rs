//! The formulas that turn config.json's cgroup-v1-shaped numbers into what
//! cgroup v2 files take. They are runc's (libcontainer/cgroups/utils.go), so
//! a config means the same under either runtime; docs/cgroups.md explains them.

use crate::error::{Error, Result};

/// cpu.shares (2..=262144, default 1024) to cpu.weight (1..=10000, default 100).
///
/// A linear map of the two ranges: 2 → 1, 262144 → 10000. The default 1024
/// lands on 39, not 100: runc chose to map ranges rather than defaults, and
/// matching runc matters more than the round number.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

/// blkio.weight (10..=1000) to io.weight (1..=10000): again a linear map of ranges.
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    let w = u64::from(weight.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

/// `memory.swap` in config.json is memory+swap (v1's memsw); cgroup v2's
/// memory.swap.max counts swap alone. Returns the v2 value, `None` for "leave
/// unset", `Some(-1)` for "max".
pub fn swap_to_v2(swap: Option<i64>, limit: Option<i64>) -> Result<Option<i64>> {
    let Some(swap) = swap else { return Ok(None) };
    let limit = limit.unwrap_or(0);
    match swap {
        0 => Ok(None),
        -1 => Ok(Some(-1)),
        s if s < -1 => Err(Error::Usage(format!("memory.swap {s}: must be -1 (unlimited) or a byte count"))),
        s => {
            if limit <= 0 {
                return Err(Error::Usage(format!(
                    "memory.swap {s} needs memory.limit too: on cgroup v2 swap is limited separately, as swap = (memory+swap) - memory"
                )));
            }
            if s < limit {
                return Err(Error::Usage(format!("memory.swap {s} must be >= memory.limit {limit} (it is memory+swap, not swap alone)")));
            }
            Ok(Some(s - limit))
        }
    }
}

/// A byte count for a cgroup file: -1 (and any negative) is "no limit".
pub fn bytes_v2(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// Sizes as runc's and docker's flags take them: `512`, `64k`, `256m`, `1g`
/// (binary units, case-insensitive, an optional trailing `b`), or `-1`.
pub fn parse_size(s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult): (&str, i64) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let bad = || Error::Usage(format!("invalid size {s:?}: expected a number with an optional unit k, m, g or t"));
    let n: f64 = num.parse().map_err(|_| bad())?;
    if !(n >= 0.0) || !n.is_finite() {
        return Err(bad());
    }
    Ok((n * mult as f64) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(1), 1, "below the v1 minimum clamps");
    }

    #[test]
    fn blkio() {
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
    }

    #[test]
    fn swap() {
        assert_eq!(swap_to_v2(None, Some(100)).unwrap(), None);
        assert_eq!(swap_to_v2(Some(-1), Some(100)).unwrap(), Some(-1));
        assert_eq!(swap_to_v2(Some(300), Some(100)).unwrap(), Some(200));
        assert_eq!(swap_to_v2(Some(100), Some(100)).unwrap(), Some(0), "memory+swap == memory: no swap");
        assert!(swap_to_v2(Some(50), Some(100)).is_err());
        assert!(swap_to_v2(Some(300), None).is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("64k").unwrap(), 65536);
        assert_eq!(parse_size("256M").unwrap(), 256 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        assert_eq!(parse_size("2mb").unwrap(), 2 << 20);
        assert_eq!(parse_size("-1").unwrap(), -1);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("-5").is_err());
    }
}
