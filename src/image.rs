//! Container image references: parsing, normalisation (`redis:8` → `docker.io/library/redis:8`),
//! registry-prefix matching for the image policy, and mirror rewriting.

use std::fmt;

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageRef {
    /// Registry host\[:port\], `docker.io` when none was written.
    pub registry: String,
    /// Repository path, `library/` added for official Docker Hub images.
    pub path: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parse a reference as docker and podman read it.
    ///
    /// # Errors
    /// What is wrong with it, in words.
    pub fn parse(s: &str) -> Result<ImageRef, String> {
        if s.is_empty() {
            return Err("the image reference is empty".into());
        }
        if s.chars().any(char::is_whitespace) {
            return Err("an image reference cannot contain white space".into());
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                let hex = d
                    .strip_prefix("sha256:")
                    .ok_or("a digest must start with `sha256:`")?;
                if hex.len() != 64
                    || !hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                {
                    return Err("a sha256 digest is 64 lowercase hex digits".into());
                }
                (r, Some(d.to_owned()))
            }
            None => (s, None),
        };
        // A tag is after the last ':' that comes after the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (
                &rest[..last_slash + i],
                Some(rest[last_slash + i + 1..].to_owned()),
            ),
            None => (rest, None),
        };
        if let Some(t) = &tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if !ok {
                return Err(format!(
                    "`{t}` is not a valid tag (letters, digits, `_`, `.`, `-`; at most 128)"
                ));
            }
        }
        let mut parts: Vec<&str> = name.split('/').collect();
        let registry = if parts.len() > 1
            && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost")
        {
            parts.remove(0).to_owned()
        } else {
            "docker.io".to_owned()
        };
        crate::host::check_host(&registry).map_err(|e| format!("the registry: {e}"))?;
        for p in &parts {
            let ok = !p.is_empty()
                && p.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
                })
                && p.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
                && p.chars().last().is_some_and(|c| c.is_ascii_alphanumeric());
            if !ok {
                return Err(format!(
                    "`{p}` is not a valid repository name component (lowercase letters, digits and separators)"
                ));
            }
        }
        let mut path = parts.join("/");
        if registry == "docker.io" && parts.len() == 1 {
            path = format!("library/{path}");
        }
        Ok(ImageRef {
            registry,
            path,
            tag,
            digest,
        })
    }

    /// `registry/path`, without tag or digest.
    #[must_use]
    pub fn repository(&self) -> String {
        format!("{}/{}", self.registry, self.path)
    }

    /// Whether the repository lies under `prefix` (a registry, or registry/organisation…),
    /// matching whole path segments.
    #[must_use]
    pub fn under(&self, prefix: &str) -> bool {
        let prefix = normalize_prefix(prefix);
        let repo = self.repository();
        repo == prefix || repo.starts_with(&format!("{prefix}/"))
    }

    /// The same image served by `mirror` (`HOST[:PORT][/PATH]`): the registry is replaced, the
    /// path, tag and digest kept.
    #[must_use]
    pub fn mirrored(&self, mirror: &str) -> ImageRef {
        let mirror = mirror.trim_end_matches('/');
        let (host, base) = match mirror.split_once('/') {
            Some((h, b)) => (h.to_owned(), format!("{b}/")),
            None => (mirror.to_owned(), String::new()),
        };
        ImageRef {
            registry: host,
            path: format!("{base}{}", self.path),
            tag: self.tag.clone(),
            digest: self.digest.clone(),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.path)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// `jisccti` → `docker.io/jisccti`; `ghcr.io/misp` stays.
#[must_use]
pub fn normalize_prefix(prefix: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    let first = prefix.split('/').next().unwrap_or("");
    if first.contains('.') || first.contains(':') || first == "localhost" {
        prefix.to_owned()
    } else {
        format!("docker.io/{prefix}")
    }
}

/// Check a mirror setting `HOST[:PORT][/PATH]`.
///
/// # Errors
/// What is wrong with it.
pub fn check_mirror(m: &str) -> Result<(), String> {
    // Never echo the value: a mistaken mirror may carry credentials.
    if m.contains("://") {
        return Err("a mirror is HOST[:PORT][/PATH], without a scheme such as https://".into());
    }
    if m.contains('@') {
        return Err("a mirror holds no credentials; give them to the container engine (docker login, podman login, an imagePullSecret)".into());
    }
    crate::host::check_location(m)?;
    let probe = format!("{}/x:1", m.trim_end_matches('/'));
    let r = ImageRef::parse(&probe)
        .map_err(|_| "a mirror is HOST[:PORT][/PATH] with lowercase path parts".to_owned())?;
    if r.registry == "docker.io" && !m.starts_with("docker.io") {
        return Err(
            "a mirror starts with a host name that has a `.` or a `:PORT`, or is `localhost`"
                .into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pins docker's normalisation rules and segment-wise prefix matching.
    #[test]
    fn normalises_and_matches() {
        let r = ImageRef::parse("redis:8").expect("valid");
        assert_eq!(r.to_string(), "docker.io/library/redis:8");
        assert!(r.under("docker.io/library"));
        assert!(!r.under("docker.io/lib"));
        let r = ImageRef::parse("jisccti/misp-web:v2.5.42").expect("valid");
        assert!(r.under("jisccti"));
        let r = ImageRef::parse("localhost:5000/a/b:1").expect("valid");
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(
            r.mirrored("mirror.local:5000/hub").to_string(),
            "mirror.local:5000/hub/a/b:1"
        );
        assert!(ImageRef::parse("Redis:8").is_err());
        assert!(ImageRef::parse("redis@sha256:abc").is_err());
        let r = ImageRef::parse("ghcr.io/misp/misp-docker/misp-core:v2.5.1").expect("valid");
        assert_eq!(r.repository(), "ghcr.io/misp/misp-docker/misp-core");
    }
}
