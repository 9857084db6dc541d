//! Secrets: read what `OUT/secrets/` already holds, generate what is missing, take external values
//! from the environment. Nothing is written here: the output stage writes the whole set at once,
//! after everything else has succeeded.

use std::collections::BTreeMap;
use std::path::Path;

use crate::diag::{Code, Diagnostic};
use crate::pki::{self, Tls};
use crate::spec::load::escape_segment;
use crate::spec::model::{Generate, KeyKind, Secret};
use crate::validate::Valid;

/// Default length (characters for passwords, bytes for hex and base64).
pub const DEFAULT_LENGTH: u32 = 32;
/// Default validity of a leaf certificate, in days.
pub const DEFAULT_DAYS: u32 = 825;

/// A secret's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Tls(Tls),
}

/// Every secret of the deployment, by name.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    pub values: BTreeMap<String, Value>,
    /// What was repaired while reading the kept secrets, for stderr.
    pub notes: Vec<String>,
}

impl Secrets {
    /// The single value of a plain secret.
    #[must_use]
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.values.get(name) {
            Some(Value::Text(t)) => Some(t),
            _ => None,
        }
    }

    /// The files of a TLS set. Whether a secret is one is the spec's to say
    /// ([`Secret::is_tls`]); this only fetches them.
    #[must_use]
    pub fn tls(&self, name: &str) -> Option<&Tls> {
        match self.values.get(name) {
            Some(Value::Tls(t)) => Some(t),
            _ => None,
        }
    }

    /// The files under `secrets/` that hold these values: (path relative to OUT, bytes).
    #[must_use]
    pub fn files(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for (name, v) in &self.values {
            match v {
                Value::Text(t) => out.push((format!("secrets/{name}"), t.as_bytes().to_vec())),
                Value::Tls(tls) => {
                    for (f, body) in [
                        ("ca.crt", &tls.ca_crt),
                        ("ca.key", &tls.ca_key),
                        ("hosts", &tls.hosts),
                        ("tls.crt", &tls.tls_crt),
                        ("tls.key", &tls.tls_key),
                    ] {
                        out.push((format!("secrets/{name}/{f}"), body.as_bytes().to_vec()));
                    }
                }
            }
        }
        out
    }

    /// Every secret value (for checks that none leaks into a manifest).
    #[must_use]
    pub fn leak_needles(&self) -> Vec<String> {
        let mut v = Vec::new();
        for val in self.values.values() {
            match val {
                Value::Text(t) if t.len() >= 6 => v.push(t.clone()),
                Value::Tls(tls) => {
                    for key in [&tls.tls_key, &tls.ca_key] {
                        // The base64 body of the key, one line of it is enough to recognise it.
                        if let Some(line) = key.lines().nth(1) {
                            v.push(line.to_owned());
                        }
                    }
                }
                Value::Text(_) => {}
            }
        }
        v
    }
}

/// The environment variable an external secret is read from.
#[must_use]
pub fn env_name(secret: &str) -> String {
    format!(
        "MISP_GEN_SECRET_{}",
        secret.to_ascii_uppercase().replace('-', "_")
    )
}

fn random_bytes(n: usize) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf)
        .map_err(|e| format!("the operating system's random source failed: {e}"))?;
    Ok(buf)
}

/// Letters and digits only (MISP refuses `\` and `+`), uniform by rejection sampling.
fn password(len: usize) -> Result<String, String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes(len * 2)? {
            // 62 * 4 = 248: bytes at or above it would bias the result.
            if b < 248 && out.len() < len {
                out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
    }
    Ok(out)
}

fn hex(n: usize) -> Result<String, String> {
    use std::fmt::Write as _;
    Ok(random_bytes(n)?
        .iter()
        .fold(String::with_capacity(n * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        }))
}

fn base64(n: usize) -> Result<String, String> {
    use base64::Engine as _;
    Ok(base64::engine::general_purpose::STANDARD.encode(random_bytes(n)?))
}

/// Resolve the tls hosts of a secret (placeholders in hosts may use params and `${name}`).
fn tls_hosts(valid: &Valid, s: &Secret) -> Vec<String> {
    s.hosts
        .iter()
        .map(|h| crate::domain::expand_neutral(&valid.spec, h))
        .collect()
}

/// Reads a kept file by its path relative to `secrets/`: its bytes, `None` when absent.
pub type ReadKept<'a> = dyn Fn(&str) -> Result<Option<Vec<u8>>, crate::error::Error> + 'a;

/// Load kept secrets from `out/secrets/`, take external ones from the environment, generate the rest.
/// `env` looks a variable up (the process environment in the binary; a map in tests); `read`
/// reads a kept file by its path relative to `secrets/` (`None`: absent), and is the output
/// directory's one reader, which follows no link, opens no FIFO and bounds the size.
///
/// # Errors
/// Diagnostics for external secrets that are missing (exit 1); a message for I/O or generation failures.
#[expect(
    clippy::too_many_lines,
    reason = "one pass over the secrets, kind by kind"
)]
pub fn prepare(
    valid: &Valid,
    out: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    read: &ReadKept<'_>,
) -> Result<Secrets, SecretError> {
    let dir = out.join("secrets");
    let mut secrets = Secrets::default();
    let mut missing = Vec::new();
    for (name, s) in &valid.spec.secrets {
        let length = usize::try_from(s.length.unwrap_or(DEFAULT_LENGTH)).unwrap_or(32);
        let kept = |file: &str| -> Result<Option<String>, SecretError> {
            let Some(b) = read(file).map_err(SecretError::Refused)? else {
                return Ok(None);
            };
            String::from_utf8(b).map(Some).map_err(|_| {
                SecretError::Other(format!(
                    "{} is not UTF-8 text; remove it to have it generated again",
                    dir.join(file).display()
                ))
            })
        };
        // A value written by hand (`echo value > secrets/x`) ends in a line break that is not
        // part of it: one is dropped, said once, and the file is written back without it.
        let mut kept_text = || -> Result<Option<String>, SecretError> {
            Ok(kept(name)?.map(|mut v| {
                if let Some(len) = trailing_line_break(&v) {
                    v.truncate(v.len() - len);
                    secrets.notes.push(format!(
                        "{} ended in a line break (as `echo` writes it), which is not part of the value; `render` writes the file back without it",
                        dir.join(name).display()
                    ));
                }
                v
            }))
        };
        let value = if s.external {
            // An empty value is no value: an empty database password would be kept forever.
            let from_env = env(&env_name(name)).filter(|v| !v.is_empty());
            match (from_env, kept_text()?.filter(|v| !v.is_empty())) {
                (Some(v), _) | (None, Some(v)) => Value::Text(v),
                (None, None) if s.optional => {
                    secrets.notes.push(format!(
                        "optional external secret `{name}` has no value ({} unset or empty, no {}): it is rendered empty",
                        env_name(name),
                        dir.join(name).display()
                    ));
                    Value::Text(String::new())
                }
                (None, None) => {
                    let p = format!("/secrets/{}", escape_segment(name));
                    let var = env_name(name);
                    // `env` has no word for a value that is set but not text; the process
                    // environment is asked only to say so (its value is never taken or shown).
                    let not_utf8 = std::env::var_os(&var).is_some_and(|v| v.to_str().is_none());
                    let (message, help) = if not_utf8 {
                        (
                            format!(
                                "external secret `{name}`: the environment variable {var} is set but not UTF-8 text"
                            ),
                            format!(
                                "set {var} to the value as UTF-8 text, or write it to {}",
                                dir.join(name).display()
                            ),
                        )
                    } else {
                        (
                            format!("external secret `{name}` has no value (or an empty one)"),
                            format!(
                                "set the environment variable {var} or write the value to {}",
                                dir.join(name).display()
                            ),
                        )
                    };
                    missing.push(Diagnostic {
                        file: valid.doc.file.clone(),
                        pos: valid.doc.key_pos(&p),
                        pointer: p,
                        code: Code::SecretSource,
                        message,
                        help: Some(help),
                    });
                    continue;
                }
            }
        } else {
            match s.generate {
                Some(Generate::Password) => Value::Text(match kept_text()? {
                    Some(v) => v,
                    None => password(length).map_err(SecretError::Other)?,
                }),
                Some(Generate::Hex) => Value::Text(match kept_text()? {
                    Some(v) => v,
                    None => hex(length).map_err(SecretError::Other)?,
                }),
                Some(Generate::Base64) => Value::Text(match kept_text()? {
                    Some(v) => v,
                    None => base64(length).map_err(SecretError::Other)?,
                }),
                Some(Generate::Tls) => {
                    let hosts = tls_hosts(valid, s);
                    let days = s.days.unwrap_or(DEFAULT_DAYS);
                    let kind = s.key.unwrap_or(KeyKind::EcdsaP256);
                    let files = [
                        kept(&format!("{name}/ca.crt"))?,
                        kept(&format!("{name}/ca.key"))?,
                        kept(&format!("{name}/tls.crt"))?,
                        kept(&format!("{name}/tls.key"))?,
                        kept(&format!("{name}/hosts"))?,
                    ];
                    let tls = match files {
                        [
                            Some(ca_crt),
                            Some(ca_key),
                            Some(tls_crt),
                            Some(tls_key),
                            Some(kept_hosts),
                        ] => {
                            let existing = Tls {
                                ca_crt,
                                ca_key,
                                tls_crt,
                                tls_key,
                                hosts: kept_hosts,
                            };
                            match pki::check(&existing, &hosts) {
                                Ok(()) => existing,
                                Err(pki::Broken::Leaf(why)) => {
                                    if existing.hosts == pki::hosts_text(&hosts) {
                                        // Not a change the spec asked for: a torn or edited set.
                                        secrets.notes.push(format!(
                                            "{}: {why}; issued a new certificate under the kept CA",
                                            dir.join(name).display()
                                        ));
                                    }
                                    pki::reissue(&existing, &hosts, days, kind)
                                        .map_err(SecretError::Other)?
                                }
                                Err(pki::Broken::Ca(why)) => {
                                    return Err(SecretError::Other(format!(
                                        "{}: {why}. The CA is never replaced by itself: restore ca.crt and ca.key from a backup, or remove the directory to generate a new CA (every client must then trust the new one)",
                                        dir.join(name).display()
                                    )));
                                }
                            }
                        }
                        [None, None, None, None, None] => {
                            pki::generate(&valid.spec.name, &hosts, days, kind)
                                .map_err(SecretError::Other)?
                        }
                        _ => {
                            return Err(SecretError::Other(format!(
                                "{} is incomplete (it needs ca.crt, ca.key, tls.crt, tls.key and hosts); restore the missing files, or remove the directory to generate a new CA",
                                dir.join(name).display()
                            )));
                        }
                    };
                    Value::Tls(tls)
                }
                None => continue,
            }
        };
        secrets.values.insert(name.clone(), value);
    }
    // The database cluster's monitor password: generated once and kept like a spec's
    // `generate: password` secret (validation keeps its name free).
    if has_cluster(valid) {
        let name = crate::domain::GALERA_MONITOR_SECRET;
        let kept = match read(name).map_err(SecretError::Refused)? {
            Some(b) => Some(String::from_utf8(b).map_err(|_| {
                SecretError::Other(format!(
                    "{} is not UTF-8 text; remove it to have it generated again",
                    dir.join(name).display()
                ))
            })?),
            None => None,
        }
        .map(|v| v.trim_end_matches(['\r', '\n']).to_owned())
        .filter(|v| !v.is_empty());
        let v = match kept {
            Some(v) => v,
            None => password(usize::try_from(DEFAULT_LENGTH).unwrap_or(32))
                .map_err(SecretError::Other)?,
        };
        secrets.values.insert(name.to_owned(), Value::Text(v));
    }
    if missing.is_empty() {
        Ok(secrets)
    } else {
        Err(SecretError::Missing(missing))
    }
}

/// The length of the one line break (`\n` or `\r\n`) that ends `v`, if it ends in one.
fn trailing_line_break(v: &str) -> Option<usize> {
    if v.ends_with("\r\n") {
        Some(2)
    } else if v.ends_with('\n') {
        Some(1)
    } else {
        None
    }
}

/// The value every secret takes in [`placeholders`]: no secret value, and nothing a target refuses.
pub const PLACEHOLDER: &str = "misp-gen-placeholder";

/// Stand-ins for every secret of the spec, for `render --check` in a checkout without
/// `secrets/` (CI): nothing is read, generated or taken from the environment. Only the outputs
/// outside `secrets/` are compared then, and those never depend on a secret's value, so the
/// stand-ins render them exactly as the real secrets do.
#[must_use]
pub fn placeholders(valid: &Valid) -> Secrets {
    let mut secrets = Secrets::default();
    for (name, s) in &valid.spec.secrets {
        let value = if s.is_tls() {
            Value::Tls(Tls {
                ca_crt: PLACEHOLDER.into(),
                ca_key: PLACEHOLDER.into(),
                tls_crt: PLACEHOLDER.into(),
                tls_key: PLACEHOLDER.into(),
                hosts: pki::hosts_text(&tls_hosts(valid, s)),
            })
        } else if s.external || s.generate.is_some() {
            Value::Text(PLACEHOLDER.into())
        } else {
            continue;
        };
        secrets.values.insert(name.clone(), value);
    }
    if has_cluster(valid) {
        secrets.values.insert(
            crate::domain::GALERA_MONITOR_SECRET.to_owned(),
            Value::Text(PLACEHOLDER.into()),
        );
    }
    secrets
}

/// Whether the deployment embeds a database cluster (which has a secret of its own).
fn has_cluster(valid: &Valid) -> bool {
    valid
        .deployment
        .workloads
        .iter()
        .any(|c| c.cluster.is_some())
}

#[derive(Debug)]
pub enum SecretError {
    Missing(Vec<Diagnostic>),
    Other(String),
    /// A kept file that could not be read, or that is not a regular file inside the directory.
    Refused(crate::error::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pins the alphabet and length of generated passwords, and the entropy of hex and base64.
    #[test]
    fn generated_shapes() {
        let p = password(40).expect("random");
        assert_eq!(p.len(), 40);
        assert!(p.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(hex(32).expect("random").len(), 64);
        assert_eq!(base64(32).expect("random").len(), 44);
        assert_ne!(password(32).expect("random"), password(32).expect("random"));
    }
}
