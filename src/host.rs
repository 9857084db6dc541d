//! The one parser of registry hosts (`HOST[:PORT]`, and `HOST[:PORT][/PATH]` for mirrors and a
//! site's registry), wherever misp-gen takes one: a DNS name of RFC 1123 labels, an IPv4
//! address or a bracketed IPv6 one, and a port of 1 to 65535.
//!
//! The messages never repeat the value: a mistaken one may carry credentials.

/// The longest DNS name (RFC 1035 § 2.3.4, without the root's dot).
const MAX_NAME: usize = 253;
/// The longest DNS label.
const MAX_LABEL: usize = 63;

/// Check a registry host `HOST[:PORT]`.
///
/// # Errors
/// What is wrong with it, in words, without the value.
pub fn check_host(s: &str) -> Result<(), String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (addr, after) = rest
            .split_once(']')
            .ok_or("an IPv6 address is written in brackets, `[::1]`, and the `]` is missing")?;
        addr.parse::<std::net::Ipv6Addr>()
            .map_err(|_| "the address in brackets is not an IPv6 address".to_owned())?;
        match after {
            "" => return Ok(()),
            p => (
                None,
                Some(
                    p.strip_prefix(':')
                        .ok_or("only `:PORT` may follow an IPv6 address in brackets")?,
                ),
            ),
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(s), None),
        }
    };
    if let Some(h) = host {
        check_name(h)?;
    }
    if let Some(p) = port {
        check_port(p)?;
    }
    Ok(())
}

/// Check `HOST[:PORT][/PATH]` (a registry mirror, a site's registry): [`check_host`] on what is
/// before the first `/`; the path is the caller's (image path rules).
///
/// # Errors
/// What is wrong with it, in words, without the value.
pub fn check_location(s: &str) -> Result<(), String> {
    if s.contains("://") {
        return Err("give HOST[:PORT][/PATH], without a scheme such as https://".into());
    }
    if s.contains('@') {
        return Err(
            "it holds no credentials; give them to the container engine or in the environment"
                .into(),
        );
    }
    let host = s.split('/').next().unwrap_or_default();
    check_host(host)
}

fn check_name(h: &str) -> Result<(), String> {
    if h.is_empty() {
        return Err("the host name is empty".into());
    }
    if h.len() > MAX_NAME {
        return Err(format!(
            "the host name is longer than {MAX_NAME} characters"
        ));
    }
    let labels: Vec<&str> = h.split('.').collect();
    for l in &labels {
        if l.is_empty() {
            return Err("the host name has an empty label (`..`, or a `.` at an end)".into());
        }
        if l.len() > MAX_LABEL {
            return Err(format!(
                "a label of the host name is longer than {MAX_LABEL} characters"
            ));
        }
        if !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(
                "a host name is letters, digits, `-` and dots (no `_`, `#`, `?` or other characters)"
                    .into(),
            );
        }
        if l.starts_with('-') || l.ends_with('-') {
            return Err("a label of the host name starts or ends with `-`".into());
        }
    }
    // All-digit last label: an IPv4 address, or nothing (no top-level domain is all digits).
    if labels
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
        && h.parse::<std::net::Ipv4Addr>().is_err()
    {
        return Err("the host is neither a DNS name nor an IPv4 address".into());
    }
    Ok(())
}

fn check_port(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err("a `:` is followed by no port".into());
    }
    match p.parse::<u32>() {
        // `080` is refused: one port has one spelling, so two specs naming one registry match.
        Ok(n)
            if p.bytes().all(|b| b.is_ascii_digit())
                && !p.starts_with('0')
                && (1..=65535).contains(&n) =>
        {
            Ok(())
        }
        _ => Err("the port is not a number from 1 to 65535".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pins what a registry host is: RFC 1123 names, IPv4, bracketed IPv6, ports 1-65535; and
    // every form issue 29 found accepted.
    #[test]
    fn hosts() {
        for ok in [
            "registry.example",
            "localhost",
            "localhost:5000",
            "a-b.example:443",
            "Registry.Example",
            "10.0.0.1",
            "10.0.0.1:5000",
            "[::1]",
            "[fd00::1]:5000",
            "docker.io",
            "x1.example",
        ] {
            assert_eq!(check_host(ok), Ok(()), "{ok}");
        }
        for bad in [
            "host#x",
            "evil?x.com",
            "a_b",
            "a_b.example",
            "a.example:99999",
            "a.example:0",
            "a.example:",
            "a.example:+80",
            "a..example",
            "-bad",
            "bad-.example",
            ".a.example",
            "a.example.",
            "",
            "1.2.3",
            "300.1.1.1",
            "[::1",
            "[nope]",
            "[::1]x",
            "a.example:80:80",
            "a.example:080",
            "a\u{1b}.example",
            &"a".repeat(64),
            &format!("{}.example", ["a"; 130].join(".")),
        ] {
            assert!(check_host(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn locations() {
        assert_eq!(check_location("mirror.example:5000/hub"), Ok(()));
        assert_eq!(check_location("[::1]:5000/a/b"), Ok(()));
        assert!(check_location("https://mirror.example").is_err());
        assert!(check_location("user:pw@mirror.example").is_err());
        assert!(check_location("evil?x.com/hub").is_err());
        assert!(check_location("a.example:/hub").is_err());
    }
}
