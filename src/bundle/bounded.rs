//! The bounds on what a registry or a bundle hands misp-gen: one bounded reader for every body
//! and file read whole, one exact-size reader for every blob, the check of a digest, and how deep
//! and how wide a manifest walk may go. See docs/src/limits-registry.md.

use std::io::Read;

/// The largest manifest, index, image config, token answer, `bundle.json`, `SHA256SUMS`, spec or
/// CA file read into memory: 4 MiB, as other registry clients bound a manifest (containerd,
/// oras). Real ones are a few KiB.
pub const MAX_DOC: u64 = 4 << 20;

/// How deep an index may nest (index → index → … → manifest). OCI allows nesting; real images
/// use one level.
pub const MAX_DEPTH: usize = 8;

/// Read all of `r`, at most `limit` bytes: more is an `InvalidData` error, whatever the source
/// claims its length is, so a forged or endless body costs at most `limit` bytes of memory.
///
/// # Errors
/// Reading fails, or there are more than `limit` bytes.
pub fn read_bounded(r: &mut dyn Read, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    r.take(limit.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "larger than {}, more than any manifest, index or image config",
                size(limit)
            ),
        ));
    }
    Ok(out)
}

/// A reader of exactly `declared` bytes of `inner`: more (checked by reading one byte past) or
/// fewer is an error, so a blob never streams past the size its descriptor declares.
pub struct Exact<R> {
    inner: R,
    left: u64,
    declared: u64,
}

impl<R: Read> Exact<R> {
    pub fn new(inner: R, declared: u64) -> Exact<R> {
        Exact {
            inner,
            left: declared,
            declared,
        }
    }
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "longer than the {} bytes its descriptor declares",
                        self.declared
                    ),
                )),
            };
        }
        let want = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 && want > 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "ended after {} of the {} bytes its descriptor declares",
                    self.declared - self.left,
                    self.declared
                ),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Whether `s` is a digest as misp-gen reads one: `sha256:` and 64 lowercase hex digits. Every
/// digest from a registry, a manifest or `bundle.json` is checked with this before it names a
/// file or goes into a URL.
#[must_use]
pub fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Whether `s` is a media type as a registry and a manifest name one (`type/subtype`, RFC 6838
/// characters, at most 255): a media type goes into a `Content-Type` header, which a line break
/// or a control character would break open.
#[must_use]
pub fn is_media_type(s: &str) -> bool {
    let ok = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    s.len() <= 255 && s.split_once('/').is_some_and(|(t, sub)| ok(t) && ok(sub))
}

/// Text from outside (a registry's message, a header, an entry name) for a message: escaped by
/// [`crate::diag::printable`] and cut to `max` characters.
#[must_use]
pub fn shown(s: &str, max: usize) -> String {
    let p = crate::diag::printable(s);
    if p.chars().count() <= max {
        return p.into_owned();
    }
    let mut cut: String = p.chars().take(max).collect();
    cut.push('…');
    cut
}

fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pins the bounded reader: the limit is allowed, one byte more is refused, whatever the
    // source (an endless one included).
    #[test]
    fn reads_at_most_the_limit() {
        assert_eq!(
            read_bounded(&mut &[1u8; 10][..], 10).expect("fits").len(),
            10
        );
        let err = read_bounded(&mut &[1u8; 11][..], 10).expect_err("too big");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        let err = read_bounded(&mut std::io::repeat(0), MAX_DOC).expect_err("endless");
        assert!(err.to_string().contains("4 MiB"), "{err}");
    }

    // Pins the exact reader: the declared size passes, one byte more or less is an error.
    #[test]
    fn reads_exactly_the_declared_size() {
        let mut v = Vec::new();
        Exact::new(&[1u8; 5][..], 5)
            .read_to_end(&mut v)
            .expect("exact");
        assert_eq!(v.len(), 5);
        let err = Exact::new(&[1u8; 6][..], 5)
            .read_to_end(&mut Vec::new())
            .expect_err("longer");
        assert!(err.to_string().contains("longer than the 5"), "{err}");
        let err = Exact::new(&[1u8; 4][..], 5)
            .read_to_end(&mut Vec::new())
            .expect_err("shorter");
        assert!(err.to_string().contains("after 4 of the 5"), "{err}");
        let err = std::io::copy(
            &mut Exact::new(std::io::repeat(7), 1 << 20),
            &mut std::io::sink(),
        )
        .expect_err("endless");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    }

    // Pins what a digest is: sha256, 64 lowercase hex, nothing around it.
    #[test]
    fn checks_digests() {
        let hex = "a".repeat(64);
        assert!(is_digest(&format!("sha256:{hex}")));
        for bad in [
            format!("sha256:{}", "A".repeat(64)),
            format!("sha256:{}", "a".repeat(63)),
            format!("sha256:{hex}/../x"),
            format!("sha512:{hex}"),
            "sha256:".to_owned(),
            format!("sha256:{}?x", "a".repeat(63)),
        ] {
            assert!(!is_digest(&bad), "{bad}");
        }
    }

    // Pins what a media type is: `type/subtype` of token characters, nothing that breaks a header.
    #[test]
    fn checks_media_types() {
        assert!(is_media_type("application/vnd.oci.image.manifest.v1+json"));
        for bad in [
            "",
            "application",
            "a/b\r\nX-Evil: 1",
            "a/b/c",
            "a/b; charset=x",
            "/b",
        ] {
            assert!(!is_media_type(bad), "{bad:?}");
        }
    }

    // Pins that outside text is one short line: line breaks and ESC escaped, cut at `max`.
    #[test]
    fn shows_outside_text_on_one_short_line() {
        assert_eq!(shown("a\nb\u{1b}[2J", 100), "a\\nb\\u{1b}[2J");
        assert_eq!(shown(&"x".repeat(10), 4), "xxxx…");
    }
}
