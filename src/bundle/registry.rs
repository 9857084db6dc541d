//! A small client of the OCI distribution API (the registry protocol): manifests and blobs, pulled
//! and pushed over HTTPS (plain HTTP only when asked for), with basic auth or a bearer token from
//! the registry's challenge.
//!
//! Credentials come from the environment only ([`USER_ENV`], [`PASSWORD_ENV`]) and go only over
//! TLS to the registry's own origin or the token service it names over TLS: never over plain
//! HTTP, never with a redirect or an upload `Location` to another origin. Redirects are followed
//! here (not by the HTTP library), http(s) only. Every request has an overall deadline and every
//! body read whole is bounded ([`super::bounded`]). Extra trusted CAs come from a PEM file.
//! Nothing here is called outside `bundle` and `bundle push`.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::bounded::{self, MAX_DOC, shown};
use crate::Error;

/// The user name for the registry's basic auth (or its token service).
pub const USER_ENV: &str = "MISP_GEN_REGISTRY_USER";
/// The password for the registry's basic auth (or its token service).
pub const PASSWORD_ENV: &str = "MISP_GEN_REGISTRY_PASSWORD";
/// A PEM file of CA certificates to trust besides the system's (the same as `--ca-file`).
pub const CA_ENV: &str = "MISP_GEN_REGISTRY_CA";
/// The overall deadline of one request in seconds (default [`DEFAULT_DEADLINE`]); a blob
/// transfer gets [`SECS_PER_MIB`] more per MiB of its declared size.
pub const TIMEOUT_ENV: &str = "MISP_GEN_REGISTRY_TIMEOUT";
/// The overall deadline of one request without a blob: connection, answer and body.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(120);
/// What a blob transfer gets on top, per MiB: 4 s, a floor of 256 KiB/s.
pub const SECS_PER_MIB: u64 = 4;
/// The longest deadline `MISP_GEN_REGISTRY_TIMEOUT` may set: a day.
pub const MAX_DEADLINE_SECS: u64 = 86_400;
/// How many redirects one request follows.
pub const MAX_REDIRECTS: usize = 5;

/// How a registry is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `https://`, the default.
    Https,
    /// `http://`, only with `--plain-http`: no credential is ever sent.
    PlainHttp,
}

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
    /// A token, and whether credentials went into getting it (then it is one too).
    Bearer(String, bool),
}

/// One registry, reached at `https://HOST[:PORT]` (or `http://` with [`Scheme::PlainHttp`]).
pub struct Registry {
    /// As the user wrote it (`HOST[:PORT]`), for messages.
    pub host: String,
    base: Url,
    scheme: Scheme,
    agent: ureq::Agent,
    user: Option<(String, String)>,
    auth: std::sync::Mutex<Auth>,
    deadline: Duration,
}

/// Whether two URLs are one origin: scheme, host and port.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// A PEM file of CAs: a regular file (not a FIFO or a device, which would hang or never end), at
/// most [`MAX_DOC`] bytes.
fn read_pem_file(f: &std::path::Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(f).map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file (a PEM file of CA certificates is one)".into());
    }
    let mut file = std::fs::File::open(f).map_err(|e| format!("cannot read it: {e}"))?;
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err("not a regular file (a PEM file of CA certificates is one)".into());
    }
    bounded::read_bounded(&mut file, MAX_DOC).map_err(|e| format!("cannot read it: {e}"))
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
        if let Ok(pem) = read_pem_file(std::path::Path::new(sys)) {
            for c in CertificateDer::pem_slice_iter(&pem).flatten() {
                let _ = roots.add(c);
            }
            break;
        }
    }
    if let Some(f) = ca_file {
        let pem = read_pem_file(f)
            .map_err(|e| Error::Usage(format!("--ca-file {}: {e}", f.display())))?;
        let mut n = 0;
        for c in CertificateDer::pem_slice_iter(&pem) {
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
    // The library's text can carry a URL a registry chose (a redirect, a realm).
    let text = shown(&e.to_string(), 400);
    if text.contains("timed out") {
        Error::Failed(format!(
            "{what}: the registry {host} did not answer in time ({text}); each request has an overall deadline (set {TIMEOUT_ENV}=SECONDS for a slow link)"
        ))
    } else if text.contains("certificate") || text.contains("UnknownIssuer") || text.contains("tls")
    {
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
    /// A CA file that cannot be read, a deadline in the environment that is not a number.
    pub fn new(
        host: &str,
        ca_file: Option<&std::path::Path>,
        scheme: Scheme,
    ) -> Result<Registry, Error> {
        let user = match (std::env::var(USER_ENV), std::env::var(PASSWORD_ENV)) {
            (Ok(u), Ok(p)) if !u.is_empty() => Some((u, p)),
            _ => None,
        };
        Registry::with_scheme(host, ca_file, user, scheme)
    }

    /// A client for `https://host` with the credentials given (user, password).
    ///
    /// # Errors
    /// As [`Registry::new`].
    pub fn with_credentials(
        host: &str,
        ca_file: Option<&std::path::Path>,
        user: Option<(String, String)>,
    ) -> Result<Registry, Error> {
        Registry::with_scheme(host, ca_file, user, Scheme::Https)
    }

    /// A client for `host` reached by `scheme`, with the credentials given.
    ///
    /// # Errors
    /// As [`Registry::new`].
    pub fn with_scheme(
        host: &str,
        ca_file: Option<&std::path::Path>,
        user: Option<(String, String)>,
        scheme: Scheme,
    ) -> Result<Registry, Error> {
        let ca_env = std::env::var_os(CA_ENV).map(std::path::PathBuf::from);
        let ca = ca_file.map(std::path::Path::to_path_buf).or(ca_env);
        let tls = tls_config(ca.as_deref())?;
        let deadline = match std::env::var(TIMEOUT_ENV) {
            Ok(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|s| (1..=MAX_DEADLINE_SECS).contains(s))
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "{TIMEOUT_ENV}: `{}` is not a number of seconds from 1 to {MAX_DEADLINE_SECS}",
                        shown(&v, 40)
                    ))
                })?,
            Err(_) => DEFAULT_DEADLINE,
        };
        // Redirects are followed in `send`, where their scheme and origin are checked.
        let agent = ureq::AgentBuilder::new()
            .tls_config(Arc::new(tls))
            .timeout_connect(Duration::from_secs(30))
            .redirects(0)
            .build();
        let api = if host == "docker.io" {
            "registry-1.docker.io"
        } else {
            host
        };
        let prefix = match scheme {
            Scheme::Https => "https",
            Scheme::PlainHttp => "http",
        };
        let base = Url::parse(&format!("{prefix}://{api}/"))
            .ok()
            .filter(|u| u.host_str().is_some() && u.path() == "/")
            .ok_or_else(|| Error::Usage(format!("`{}` is not HOST[:PORT]", shown(host, 100))))?;
        Ok(Registry {
            host: host.to_owned(),
            base,
            scheme,
            agent,
            user,
            auth: std::sync::Mutex::new(Auth::None),
            deadline,
        })
    }

    /// The deadline of a request that moves `bytes` of blob.
    fn budget(&self, bytes: u64) -> Duration {
        // Whole MiB, rounded up: a request with no blob gets the deadline itself.
        let mib = bytes.div_ceil(1 << 20);
        self.deadline
            .saturating_add(Duration::from_secs(mib.saturating_mul(SECS_PER_MIB)))
    }

    /// A URL a registry named (a redirect, an upload `Location`, a realm), resolved against
    /// `from`: http or https with a host, and http only with --plain-http.
    fn follow(&self, from: &Url, location: &str, what: &str) -> Result<Url, Error> {
        let shown_loc = shown(location, 200);
        let url = from.join(location).map_err(|e| {
            Error::Failed(format!(
                "{what}: the registry {} sent the location `{shown_loc}`, which is not a URL ({e})",
                self.host
            ))
        })?;
        match url.scheme() {
            "https" => {}
            "http" if self.scheme == Scheme::PlainHttp => {}
            "http" => {
                return Err(Error::Failed(format!(
                    "{what}: the registry {} sent misp-gen to `{shown_loc}`, over plain HTTP; misp-gen talks HTTPS only, unless --plain-http is given (and then sends no credential)",
                    self.host
                )));
            }
            _ => {
                return Err(Error::Failed(format!(
                    "{what}: the registry {} sent misp-gen to `{shown_loc}`, which is not an http(s) URL",
                    self.host
                )));
            }
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(Error::Failed(format!(
                "{what}: the registry {} sent misp-gen to `{shown_loc}`, which has no host",
                self.host
            )));
        }
        Ok(url)
    }

    fn current_auth(&self) -> Auth {
        self.auth.lock().map_or(Auth::None, |a| a.clone())
    }

    /// Answer a 401 challenge: basic credentials, or a token from the realm it names. No
    /// credential is ever answered over plain HTTP, to the registry or to its token service.
    fn answer(&self, challenge: &str, what: &str) -> Result<(), Error> {
        let no_creds = || {
            Error::Failed(format!(
                "{what}: the registry {} asks for credentials (401): set {USER_ENV} and {PASSWORD_ENV}",
                self.host
            ))
        };
        let plain = |to: &str| {
            Error::Failed(format!(
                "{what}: the registry {} asks for credentials, {to} over plain HTTP; misp-gen sends credentials over HTTPS only",
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
            if self.base.scheme() != "https" {
                return Err(plain("to be sent"));
            }
            Auth::Basic(basic(creds))
        } else if lower.starts_with("bearer") {
            let params = parse_challenge(challenge.get(6..).unwrap_or(""));
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
            let realm = self.follow(&self.base, &realm, what)?;
            if self.user.is_some() && realm.scheme() != "https" {
                return Err(plain(&format!(
                    "for its token service `{}`",
                    shown(realm.as_str(), 200)
                )));
            }
            let mut req = self.agent.request_url("GET", &realm).timeout(self.deadline);
            for (k, v) in &params {
                if k == "service" || k == "scope" {
                    req = req.query(k, v);
                }
            }
            if let Some(c) = &self.user {
                req = req.set("Authorization", &format!("Basic {}", basic(c)));
            }
            let service = || format!("the token service of {}", self.host);
            let resp = match req.call() {
                Ok(r) if (200..300).contains(&r.status()) => r,
                Ok(r) => {
                    return Err(Error::Failed(format!(
                        "{what}: {} answered {} (misp-gen follows no redirect of a token service)",
                        service(),
                        r.status()
                    )));
                }
                Err(ureq::Error::Status(401 | 403, _)) => {
                    return Err(Error::Failed(format!(
                        "{what}: {} refused the credentials of {USER_ENV} and {PASSWORD_ENV}",
                        service()
                    )));
                }
                Err(ureq::Error::Status(code, r)) => {
                    return Err(Error::Failed(format!(
                        "{what}: {} answered {code}{}",
                        service(),
                        registry_error_text(r)
                    )));
                }
                Err(ureq::Error::Transport(t)) => {
                    return Err(transport_error(&self.host, what, &t));
                }
            };
            let body = bounded::read_bounded(&mut Deadlined(resp.into_reader()), MAX_DOC).map_err(
                |e| Error::Failed(format!("{what}: reading the answer of {}: {e}", service())),
            )?;
            let v: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| Error::Failed(format!("{what}: {} sent no JSON: {e}", service())))?;
            let token = v["token"]
                .as_str()
                .or(v["access_token"].as_str())
                .ok_or_else(|| Error::Failed(format!("{what}: {} sent no token", service())))?;
            Auth::Bearer(token.to_owned(), self.user.is_some())
        } else {
            return Err(no_creds());
        };
        if let Ok(mut a) = self.auth.lock() {
            *a = auth;
        }
        Ok(())
    }

    /// The `Authorization` header for a request to `url`: only to the registry's own origin, and
    /// one that carries credentials only over TLS.
    fn authorization(&self, url: &Url) -> Option<String> {
        if !same_origin(url, &self.base) {
            return None;
        }
        let tls = url.scheme() == "https";
        match self.current_auth() {
            Auth::Basic(b) if tls => Some(format!("Basic {b}")),
            Auth::Bearer(t, from_creds) if tls || !from_creds => Some(format!("Bearer {t}")),
            Auth::None | Auth::Basic(_) | Auth::Bearer(..) => None,
        }
    }

    /// Send a request, answering one 401 challenge of the registry's own origin and following at
    /// most [`MAX_REDIRECTS`] redirects of a GET or HEAD (each checked by [`Registry::follow`]);
    /// `body` is called again for the retry. `blob` is the size of a blob it moves, for its
    /// deadline.
    fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &mut BodyFn<'_>,
        what: &str,
        blob: u64,
    ) -> Result<ureq::Response, Error> {
        let start = self.follow(&self.base, url, what)?;
        let deadline = self.budget(blob);
        for attempt in 0..2 {
            let mut url = start.clone();
            let mut hops = 0;
            loop {
                let mut req = self.agent.request_url(method, &url).timeout(deadline);
                for (k, v) in headers {
                    req = req.set(k, v);
                }
                if let Some(a) = self.authorization(&url) {
                    req = req.set("Authorization", &a);
                }
                let result = match body()? {
                    Some((reader, len)) => req.set("Content-Length", &len.to_string()).send(reader),
                    None => req.call(),
                };
                match result {
                    Ok(r) if (300..400).contains(&r.status()) && r.status() != 304 => {
                        if !matches!(method, "GET" | "HEAD") {
                            return Err(Error::Failed(format!(
                                "{what}: the registry {} redirected a {method} ({}); misp-gen follows redirects of GET and HEAD only",
                                self.host,
                                r.status()
                            )));
                        }
                        hops += 1;
                        if hops > MAX_REDIRECTS {
                            return Err(Error::Failed(format!(
                                "{what}: the registry {} redirected more than {MAX_REDIRECTS} times",
                                self.host
                            )));
                        }
                        let location = r.header("Location").unwrap_or("").to_owned();
                        url = self.follow(&url, &location, what)?;
                    }
                    Ok(r) => return Ok(r),
                    Err(ureq::Error::Status(401, r))
                        if attempt == 0 && same_origin(&url, &self.base) =>
                    {
                        let challenge = r.header("WWW-Authenticate").unwrap_or("").to_owned();
                        self.answer(&challenge, what)?;
                        break;
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
        }
        Err(Error::Internal("authentication loop".into()))
    }

    /// The manifest `reference` (tag or digest) of `repo`: media type and the registry's bytes,
    /// at most [`MAX_DOC`] of them.
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
                0,
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
        let bytes =
            bounded::read_bounded(&mut Deadlined(resp.into_reader()), MAX_DOC).map_err(|e| {
                Error::Failed(format!(
                    "{what}: reading the manifest from {} failed: {e}",
                    self.host
                ))
            })?;
        let media = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["mediaType"].as_str().map(str::to_owned))
            .unwrap_or(media);
        Ok((media, bytes))
    }

    /// A reader of the blob `digest` of `repo`, exactly `size` bytes (its descriptor's): one more
    /// or fewer is an error, so a blob never streams past the size it declares.
    ///
    /// # Errors
    /// The registry's refusal.
    pub fn blob(
        &self,
        repo: &str,
        digest: &str,
        size: u64,
        what: &str,
    ) -> Result<Box<dyn Read>, Error> {
        check_digest(digest, what)?;
        let resp = self
            .send(
                "GET",
                &format!("/v2/{repo}/blobs/{digest}"),
                &[],
                &mut || Ok(None),
                what,
                size,
            )
            .map_err(|e| not_found(e, what, &self.host))?;
        Ok(Box::new(bounded::Exact::new(
            Paced::new(resp.into_reader(), self.deadline),
            size,
        )))
    }

    /// Whether the registry has the blob `digest` in `repo`.
    ///
    /// # Errors
    /// The registry's refusal other than 404.
    pub fn has_blob(&self, repo: &str, digest: &str, what: &str) -> Result<bool, Error> {
        check_digest(digest, what)?;
        match self.send(
            "HEAD",
            &format!("/v2/{repo}/blobs/{digest}"),
            &[],
            &mut || Ok(None),
            what,
            0,
        ) {
            Ok(_) => Ok(true),
            Err(Error::Failed(m)) if m.contains("answered 404") => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Upload a blob: one POST for the session, one PUT with the whole blob to the `Location`
    /// the registry names (checked as a redirect is; credentials only if it is the registry's
    /// own origin over TLS).
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
        check_digest(digest, what)?;
        let resp = self.send(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/"),
            &[("Content-Length", "0")],
            &mut || Ok(None),
            what,
            0,
        )?;
        let location = resp.header("Location").ok_or_else(|| {
            Error::Failed(format!(
                "{what}: the registry {} started an upload without a Location",
                self.host
            ))
        })?;
        let from = Url::parse(resp.get_url()).unwrap_or_else(|_| self.base.clone());
        let mut url = self.follow(&from, location, what)?;
        url.query_pairs_mut().append_pair("digest", digest);
        let (first, size) = open()?;
        let mut first = Some((first, size));
        let mut body = || match first.take() {
            Some(b) => Ok(Some(b)),
            None => open().map(Some),
        };
        self.send(
            "PUT",
            url.as_str(),
            &[("Content-Type", "application/octet-stream")],
            &mut body,
            what,
            size,
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
            0,
        )?;
        Ok(())
    }
}

/// A digest goes into a URL only when it is one.
fn check_digest(digest: &str, what: &str) -> Result<(), Error> {
    if bounded::is_digest(digest) {
        Ok(())
    } else {
        Err(Error::Failed(format!(
            "{what}: `{}` is not a digest (`sha256:` and 64 lowercase hex digits)",
            shown(digest, 80)
        )))
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
/// Escaped and cut: a registry's text never forges a line or reaches the terminal raw.
fn registry_error_text(r: ureq::Response) -> String {
    // An error body is small; a larger one is not shown at all.
    let body = bounded::read_bounded(&mut r.into_reader(), 64 << 10).unwrap_or_default();
    serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            let e = &v["errors"][0];
            let code = e["code"].as_str()?;
            let msg = e["message"].as_str().unwrap_or("");
            Some(format!(" ({}: {})", shown(code, 60), shown(msg, 300)))
        })
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&body);
            let text = text.trim();
            if text.is_empty() {
                String::new()
            } else {
                format!(" ({})", shown(text, 300))
            }
        })
}

/// A response body whose read running out of time says which deadline it met.
struct Deadlined<R>(R);

impl<R: Read> Read for Deadlined<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            if matches!(
                e.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) || e.to_string().contains("timed out")
            {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "not all there within the request's deadline (set {TIMEOUT_ENV}=SECONDS for a slow link)"
                    ),
                )
            } else {
                e
            }
        })
    }
}

/// A blob's body, read on a thread of its own so that a registry that stalls or drips is cut
/// off at the floor rate: by `base` plus 4 s per MiB received so far (256 KiB/s), however large
/// the blob says it is (the request's own deadline grows with the declared size, so a huge
/// declared size alone would buy weeks). A read still blocked when the process gives up ends
/// with it.
struct Paced {
    rx: std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    started: std::time::Instant,
    base: Duration,
    received: u64,
    pending: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Paced {
    fn new(mut inner: impl Read + Send + 'static, base: Duration) -> Paced {
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let sent = match Deadlined(&mut inner).read(&mut buf) {
                    Ok(0) => {
                        let _ = tx.send(Ok(Vec::new()));
                        return;
                    }
                    Ok(n) => tx.send(Ok(buf[..n].to_vec())),
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                if sent.is_err() {
                    return;
                }
            }
        });
        Paced {
            rx,
            started: std::time::Instant::now(),
            base,
            received: 0,
            pending: Vec::new(),
            pos: 0,
            done: false,
        }
    }

    /// How long the transfer may have taken by now: `base` and 4 s per MiB received
    /// (4 000 000 µs / 2^20 bytes = 15 625 / 4 096 µs a byte).
    fn allowed(&self) -> Duration {
        self.base.saturating_add(Duration::from_micros(
            self.received.saturating_mul(15_625) / 4_096,
        ))
    }
}

impl Read for Paced {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.pending.len() {
            if self.done {
                return Ok(0);
            }
            let slow = || {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "slower than 256 KiB/s past the request's deadline (set {TIMEOUT_ENV}=SECONDS for a slow link)"
                    ),
                )
            };
            let left = self
                .allowed()
                .checked_sub(self.started.elapsed())
                .ok_or_else(slow)?;
            match self.rx.recv_timeout(left) {
                Ok(Ok(chunk)) if chunk.is_empty() => self.done = true,
                Ok(Ok(chunk)) => {
                    self.received = self.received.saturating_add(chunk.len() as u64);
                    self.pending = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => return Err(slow()),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
            }
        }
        let n = buf.len().min(self.pending.len() - self.pos);
        buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
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
