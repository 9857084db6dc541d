//! Durations (`30s`, `1h30m`), byte quantities (`2Gi`) and CPU quantities (`500m`): parsing and
//! the forms each target wants.

/// Milliseconds in a duration such as `500ms`, `30s`, `5m`, `1h30m`.
#[must_use]
pub fn duration_ms(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !c.is_ascii_digit())?;
        if n_end == 0 {
            return None;
        }
        let n: u64 = rest[..n_end].parse().ok()?;
        rest = &rest[n_end..];
        let (mult, len) = if rest.starts_with("ms") {
            (1, 2)
        } else if rest.starts_with('s') {
            (1000, 1)
        } else if rest.starts_with('m') {
            (60_000, 1)
        } else if rest.starts_with('h') {
            (3_600_000, 1)
        } else {
            return None;
        };
        rest = &rest[len..];
        total = total.checked_add(n.checked_mul(mult)?)?;
    }
    Some(total)
}

/// Whole seconds, rounded up (Kubernetes probes count in seconds).
#[must_use]
pub fn duration_secs_ceil(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

/// A duration in the short form compose and podman accept: `90s`, `1500ms`.
#[must_use]
pub fn duration_text(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// A leading whole number and the suffix after it (`512Mi` → 512, `Mi`).
fn number_and_suffix(s: &str) -> Option<(u64, &str)> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if split == 0 {
        return None;
    }
    Some((s[..split].parse().ok()?, &s[split..]))
}

/// Bytes in a quantity such as `512Mi`, `2Gi`, `1G`, `1048576`.
#[must_use]
pub fn bytes(s: &str) -> Option<u64> {
    let (n, suffix) = number_and_suffix(s)?;
    let mult: u64 = match suffix {
        "" => 1,
        "k" | "K" => 1000,
        "M" => 1000_u64.pow(2),
        "G" => 1000_u64.pow(3),
        "T" => 1000_u64.pow(4),
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Milli-CPUs in `1`, `0.5`, `500m`.
#[must_use]
pub fn millicpu(s: &str) -> Option<u64> {
    if let Some(m) = s.strip_suffix('m') {
        return m.parse::<u64>().ok().filter(|v| *v > 0);
    }
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() && frac.is_empty() || frac.len() > 3 {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let w: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let f: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<3}").parse().ok()?
    };
    let v = w.checked_mul(1000)?.checked_add(f)?;
    (v > 0).then_some(v)
}

/// CPUs as a decimal (`0.5`), for compose and podman.
#[must_use]
pub fn cpu_decimal(milli: u64) -> String {
    if milli.is_multiple_of(1000) {
        (milli / 1000).to_string()
    } else {
        let s = format!("{}.{:03}", milli / 1000, milli % 1000);
        s.trim_end_matches('0').to_owned()
    }
}

/// A body size such as `512m`, `1g`, `100k`, `1048576`.
#[must_use]
pub fn body_size_bytes(s: &str) -> Option<u64> {
    let (n, suffix) = number_and_suffix(s)?;
    let mult: u64 = match suffix {
        "" => 1,
        "k" | "K" => 1 << 10,
        "m" | "M" => 1 << 20,
        "g" | "G" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pins the accepted spellings and their values.
    #[test]
    fn parses_units() {
        assert_eq!(duration_ms("1h30m"), Some(5_400_000));
        assert_eq!(duration_ms("500ms"), Some(500));
        assert_eq!(duration_ms("30"), None);
        assert_eq!(duration_ms("s"), None);
        assert_eq!(bytes("2Gi"), Some(2 << 30));
        assert_eq!(bytes("2GB"), None);
        assert_eq!(millicpu("0.5"), Some(500));
        assert_eq!(millicpu("250m"), Some(250));
        assert_eq!(millicpu("0"), None);
        assert_eq!(cpu_decimal(1500), "1.5");
        assert_eq!(cpu_decimal(2000), "2");
        assert_eq!(body_size_bytes("512m"), Some(512 << 20));
        assert_eq!(duration_text(1500), "1500ms");
    }
}
