//! A small client of the OCI distribution API (the registry protocol): manifests and blobs, pulled
//! and pushed over HTTPS, with basic auth or a bearer token from the registry's challenge.
//!
//! Credentials come from the environment only ([`USER_ENV`], [`PASSWORD_ENV`]); extra trusted CAs
//! from a PEM file. Nothing here is called outside `bundle` and `bundle push`.

use std::io::Read;
use std::sync::Arc;

use crate::Error;

/// The user name for the registry's basic auth (or its token service).
pub const USER_ENV: &str = "MISP_GEN_REGISTRY_USER";
/// The password for the registry's basic auth (or its token service).
pub const PASSWORD_ENV: &str = "MISP_GEN_REGISTRY_PASSWORD";
/// A PEM file of CA certificates to trust besides the system's (the same as `--ca-file`).
pub const CA_ENV: &str = "MISP_GEN_REGISTRY_CA";

/// Media types of manifests, as the `Accept` header asks for them.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Whether a media type is an index (a list of per-platform manifests).
#[must_use]
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

/// A request body: a reader and its length; called again when a request is retried.
type BodyFn<'a> = dyn FnMut() -> Result<Option<(Box<dyn Read>, u64)>, Error> + 'a;

#[derive(Debug, Clone)]
enum Auth {
    None,
    Basic(String),
    Bearer(String),
}

/// One registry, reached at `https://HOST[:PORT]`.
pub struct Registry {
    /// As the user wrote it (`HOST[:PORT]`), for messages.
    pub host: String,
    base: String,
    agent: ureq::Agent,
    user: Option<(String, String)>,
    auth: std::sync::Mutex<Auth>,
}

/// Build a TLS configuration: the system's CAs and those of `ca_file`.
fn tls_config(ca_file: Option<&std::path::Path>) -> Result<rustls::ClientConfig, Error> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for sys in [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    ] {
        if let Ok(iter) = CertificateDer::pem_file_iter(sys) {
            for c in iter.flatten() {
                let _ = roots.add(c);
            }
            break;
        }
    }
    if let Some(f) = ca_file {
        let iter = CertificateDer::pem_file_iter(f)
            .map_err(|e| Error::Usage(format!("--ca-file {}: cannot read it: {e}", f.display())))?;
        let mut n = 0;
        for c in iter {
            let c = c.map_err(|e| {
                Error::Usage(format!(
                    "--ca-file {}: not a PEM certificate file: {e}",
                    f.display()
                ))
            })?;
            roots.add(c).map_err(|e| {
                Error::Usage(format!(
                    "--ca-file {}: a certificate cannot be used: {e}",
                    f.display()
                ))
            })?;
            n += 1;
        }
        if n == 0 {
            return Err(Error::Usage(format!(
                "--ca-file {}: holds no PEM certificate",
                f.display()
            )));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Internal(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A failed request, in words that name the registry and what to do.
fn transport_error(host: &str, what: &str, e: &ureq::Transport) -> Error {
    let text = e.to_string();
    if text.contains("certificate") || text.contains("UnknownIssuer") || text.contains("tls") {
        Error::Failed(format!(
            "{what}: TLS with {host} failed ({text}); if the registry's certificate comes from a private CA, give that CA with --ca-file FILE (or {CA_ENV})"
        ))
    } else {
        Error::Failed(format!("{what}: cannot reach the registry {host}: {text}"))
    }
}

impl Registry {
    /// A client for `host` (`HOST[:PORT]`); credentials from the environment.
    ///
    /// # Errors
    /// A CA file that cannot be read.
    pub fn new(host: &str, ca_file: Option<&std::path::Path>) -> Result<Registry, Error> {
        let user = match (std::env::var(USER_ENV), std::env::var(PASSWORD_ENV)) {
            (Ok(u), Ok(p)) if !u.is_empty() => Some((u, p)),
            _ => None,
        };
        Registry::with_credentials(host, ca_file, user)
    }

    /// A client for `host` with the credentials given (user, password).
    ///
    /// # Errors
    /// A CA file that cannot be read.
    pub fn with_credentials(
        host: &str,
        ca_file: Option<&std::path::Path>,
        user: Option<(String, String)>,
    ) -> Result<Registry, Error> {
        let ca_env = std::env::var_os(CA_ENV).map(std::path::PathBuf::from);
        let ca = ca_file.map(std::path::Path::to_path_buf).or(ca_env);
        let tls = tls_config(ca.as_deref())?;
        let agent = ureq::AgentBuilder::new()
            .tls_config(Arc::new(tls))
            .timeout_connect(std::time::Duration::from_secs(30))
            .timeout_read(std::time::Duration::from_secs(300))
            .redirects(5)
            .build();
        let api = if host == "docker.io" {
            "registry-1.docker.io"
        } else {
            host
        };
        Ok(Registry {
            host: host.to_owned(),
            base: format!("https://{api}"),
            agent,
            user,
            auth: std::sync::Mutex::new(Auth::None),
        })
    }

    fn current_auth(&self) -> Auth {
        self.auth.lock().map_or(Auth::None, |a| a.clone())
    }

    /// Answer a 401 challenge: basic credentials, or a token from the realm it names.
    fn answer(&self, challenge: &str, what: &str) -> Result<(), Error> {
        let no_creds = || {
            Error::Failed(format!(
                "{what}: the registry {} asks for credentials (401): set {USER_ENV} and {PASSWORD_ENV}",
                self.host
            ))
        };
        let lower = challenge.to_ascii_lowercase();
        let basic = |(u, p): &(String, String)| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        };
        let auth = if lower.starts_with("basic") {
            let creds = self.user.as_ref().ok_or_else(no_creds)?;
            Auth::Basic(basic(creds))
        } else if lower.starts_with("bearer") {
            let params = parse_challenge(&challenge[6..]);
            let realm = params
                .iter()
                .find(|(k, _)| k == "realm")
                .map(|(_, v)| v.clone())
                .ok_or_else(|| {
                    Error::Failed(format!(
                        "{what}: the registry {} sent a token challenge without a realm",
                        self.host
                    ))
                })?;
            let mut req = self.agent.get(&realm);
            for (k, v) in &params {
                if k == "service" || k == "scope" {
                    req = req.query(k, v);
                }
            }
            if let Some(c) = &self.user {
                req = req.set("Authorization", &format!("Basic {}", basic(c)));
            }
            let resp = match req.call() {
                Ok(r) => r,
                Err(ureq::Error::Status(401 | 403, _)) => {
                    return Err(Error::Failed(format!(
                        "{what}: the token service of {} refused the credentials of {USER_ENV} and {PASSWORD_ENV}",
                        self.host
                    )));
                }
                Err(ureq::Error::Status(code, _)) => {
                    return Err(Error::Failed(format!(
                        "{what}: the token service of {} answered {code}",
                        self.host
                    )));
                }
                Err(ureq::Error::Transport(t)) => {
                    return Err(transport_error(&self.host, what, &t));
                }
            };
            let mut body = Vec::new();
            let _ = resp.into_reader().take(1 << 20).read_to_end(&mut body);
            let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
                Error::Failed(format!(
                    "{what}: the token service of {} sent no JSON: {e}",
                    self.host
                ))
            })?;
            let token = v["token"]
                .as_str()
                .or(v["access_token"].as_str())
                .ok_or_else(|| {
                    Error::Failed(format!(
                        "{what}: the token service of {} sent no token",
                        self.host
                    ))
                })?;
            Auth::Bearer(token.to_owned())
        } else {
            return Err(no_creds());
        };
        if let Ok(mut a) = self.auth.lock() {
            *a = auth;
        }
        Ok(())
    }

    /// Send a request, answering one 401 challenge; `body` is called again for the retry.
    fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &mut BodyFn<'_>,
        what: &str,
    ) -> Result<ureq::Response, Error> {
        let url = if url.starts_with("http") {
            url.to_owned()
        } else {
            format!("{}{url}", self.base)
        };
        for attempt in 0..2 {
            let mut req = self.agent.request(method, &url);
            for (k, v) in headers {
                req = req.set(k, v);
            }
            match self.current_auth() {
                Auth::None => {}
                Auth::Basic(b) => req = req.set("Authorization", &format!("Basic {b}")),
                Auth::Bearer(t) => req = req.set("Authorization", &format!("Bearer {t}")),
            }
            let result = match body()? {
                Some((reader, len)) => req.set("Content-Length", &len.to_string()).send(reader),
                None => req.call(),
            };
            match result {
                Ok(r) => return Ok(r),
                Err(ureq::Error::Status(401, r)) if attempt == 0 => {
                    let challenge = r.header("WWW-Authenticate").unwrap_or("").to_owned();
                    self.answer(&challenge, what)?;
                }
                Err(ureq::Error::Status(401, _)) => {
                    return Err(Error::Failed(format!(
                        "{what}: the registry {} refused the credentials (401): check {USER_ENV} and {PASSWORD_ENV}",
                        self.host
                    )));
                }
                Err(ureq::Error::Status(code, r)) => {
                    let detail = registry_error_text(r);
                    return Err(Error::Failed(format!(
                        "{what}: the registry {} answered {code}{detail}",
                        self.host
                    )));
                }
                Err(ureq::Error::Transport(t)) => {
                    return Err(transport_error(&self.host, what, &t));
                }
            }
        }
        Err(Error::Internal("authentication loop".into()))
    }

    /// The manifest `reference` (tag or digest) of `repo`: media type and the registry's bytes.
    ///
    /// # Errors
    /// The registry's refusal (404: no such image), naming `what`.
    pub fn manifest(
        &self,
        repo: &str,
        reference: &str,
        what: &str,
    ) -> Result<(String, Vec<u8>), Error> {
        let accept = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].join(", ");
        let resp = self
            .send(
                "GET",
                &format!("/v2/{repo}/manifests/{reference}"),
                &[("Accept", &accept)],
                &mut || Ok(None),
                what,
            )
            .map_err(|e| not_found(e, what, &self.host))?;
        let media = resp
            .header("Content-Type")
            .unwrap_or(OCI_MANIFEST)
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_owned();
        let mut bytes = Vec::new();
        resp.into_reader()
            .take(16 << 20)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::Failed(format!("{what}: reading the manifest failed: {e}")))?;
        let media = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["mediaType"].as_str().map(str::to_owned))
            .unwrap_or(media);
        Ok((media, bytes))
    }

    /// A reader of the blob `digest` of `repo`.
    ///
    /// # Errors
    /// The registry's refusal.
    pub fn blob(&self, repo: &str, digest: &str, what: &str) -> Result<Box<dyn Read>, Error> {
        let resp = self
            .send(
                "GET",
                &format!("/v2/{repo}/blobs/{digest}"),
                &[],
                &mut || Ok(None),
                what,
            )
            .map_err(|e| not_found(e, what, &self.host))?;
        Ok(Box::new(resp.into_reader()))
    }

    /// Whether the registry has the blob `digest` in `repo`.
    ///
    /// # Errors
    /// The registry's refusal other than 404.
    pub fn has_blob(&self, repo: &str, digest: &str, what: &str) -> Result<bool, Error> {
        match self.send(
            "HEAD",
            &format!("/v2/{repo}/blobs/{digest}"),
            &[],
            &mut || Ok(None),
            what,
        ) {
            Ok(_) => Ok(true),
            Err(Error::Failed(m)) if m.contains("answered 404") => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Upload a blob: one POST for the session, one PUT with the whole blob.
    ///
    /// # Errors
    /// The registry's refusal, or the body's reader failing.
    pub fn push_blob(
        &self,
        repo: &str,
        digest: &str,
        open: &mut dyn FnMut() -> Result<(Box<dyn Read>, u64), Error>,
        what: &str,
    ) -> Result<(), Error> {
        let resp = self.send(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/"),
            &[("Content-Length", "0")],
            &mut || Ok(None),
            what,
        )?;
        let location = resp.header("Location").ok_or_else(|| {
            Error::Failed(format!(
                "{what}: the registry {} started an upload without a Location",
                self.host
            ))
        })?;
        let location = if location.starts_with("http") {
            location.to_owned()
        } else {
            format!("{}{location}", self.base)
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{sep}digest={digest}");
        self.send(
            "PUT",
            &url,
            &[("Content-Type", "application/octet-stream")],
            &mut || open().map(Some),
            what,
        )?;
        Ok(())
    }

    /// Upload a manifest under `reference` (a tag or its digest).
    ///
    /// # Errors
    /// The registry's refusal.
    pub fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
        what: &str,
    ) -> Result<(), Error> {
        let owned = bytes.to_vec();
        self.send(
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Content-Type", media_type)],
            &mut || {
                let r: Box<dyn Read> = Box::new(std::io::Cursor::new(owned.clone()));
                Ok(Some((r, owned.len() as u64)))
            },
            what,
        )?;
        Ok(())
    }
}

/// A 404 in words: the image (or one of its parts) does not exist there.
fn not_found(e: Error, what: &str, host: &str) -> Error {
    match e {
        Error::Failed(m) if m.contains("answered 404") => Error::Failed(format!(
            "{what}: not found in the registry {host} (404): check the name and tag, and that the registry is the one that has it"
        )),
        other => other,
    }
}

/// The registry's own error message (`{"errors":[{"code","message"}]}`), briefly.
fn registry_error_text(r: ureq::Response) -> String {
    let mut body = String::new();
    let _ = r.into_reader().take(4096).read_to_string(&mut body);
    serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            let e = &v["errors"][0];
            let code = e["code"].as_str()?;
            let msg = e["message"].as_str().unwrap_or("");
            Some(format!(" ({code}: {msg})"))
        })
        .unwrap_or_default()
}

/// `realm="…",service="…",scope="…"` → pairs.
fn parse_challenge(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((k, after)) = rest.split_once('=') else {
            break;
        };
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let (v, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (q[..end].to_owned(), &q[end + 1..]),
                None => (q.to_owned(), ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].to_owned(), &after[end..]),
                None => (after.to_owned(), ""),
            }
        };
        out.push((k, v));
        rest = next.trim_start_matches(',').trim();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pins the reading of a bearer challenge, with a comma inside a quoted scope.
    #[test]
    fn reads_a_bearer_challenge() {
        let p = parse_challenge(
            r#"realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(
            p,
            vec![
                ("realm".into(), "https://auth.example/token".into()),
                ("service".into(), "registry.example".into()),
                ("scope".into(), "repository:a/b:pull,push".into()),
            ]
        );
    }
}
