//! `misp-gen bundle`, `bundle verify`, `push` and `load` against hostile registries and bundles
//! that lie (issue 29): the contract is a clear error, exit 1 or 2, nothing written or sent, no
//! secret printed, every input bounded in time and memory. The registries are tiny fake HTTP
//! servers in the test (a std `TcpListener` in a thread, TLS with rustls and a CA made by openssl)
//! that answer with redirects, `http://` realms and upload locations, endless and dripping bodies;
//! the bundles are forged entry by entry (tests/common/forge.rs). Each run of the binary is under
//! `ulimit -v` and a time bound, so a regression is a failure, not a full disk or a hung test.

#![allow(clippy::expect_used, reason = "a test fails where it cannot go on")]
#![allow(clippy::unwrap_used, reason = "a test fails where it cannot go on")]
#![allow(clippy::panic, reason = "a test fails where it cannot go on")]
#![allow(
    clippy::too_many_lines,
    reason = "each test is one story, step by step"
)]
#![allow(
    clippy::many_single_char_names,
    reason = "m, c, l: manifest, config, layer"
)]

mod common;

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::forge::{self, Forge, OCI_INDEX, OCI_MANIFEST, sha};
use serde_json::json;

const USER: &str = "site-user";
const PASSWORD: &str = "s3cret-Pa55word";

// ---------------------------------------------------------------------------------------------
// A fake registry.

#[derive(Debug, Clone)]
struct Req {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn has_auth(&self) -> bool {
        self.header("Authorization").is_some()
    }
}

enum Reply {
    Full(u16, Vec<(String, String)>, Vec<u8>),
    /// `chunk` every `every`, `times` times; no length, the end of the connection ends it.
    Drip(u16, Vec<u8>, Duration, usize),
    /// `len` zero bytes; no length.
    Endless(u16, u64),
}

impl Reply {
    fn status(code: u16) -> Reply {
        Reply::Full(code, Vec::new(), Vec::new())
    }

    fn body(content_type: &str, body: Vec<u8>) -> Reply {
        Reply::Full(
            200,
            vec![("Content-Type".into(), content_type.into())],
            body,
        )
    }

    fn with(code: u16, header: &str, value: &str) -> Reply {
        Reply::Full(code, vec![(header.into(), value.into())], Vec::new())
    }
}

type Handler = Arc<dyn Fn(&Req) -> Reply + Send + Sync>;

/// One fake registry on 127.0.0.1: every request logged, one request per connection.
struct Fake {
    port: u16,
    log: Arc<Mutex<Vec<Req>>>,
    sent: Arc<AtomicU64>,
}

fn read_request(s: &mut dyn Read) -> Option<Req> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).ok()? == 0 || head.len() > 65536 {
            return None;
        }
        head.push(b[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let path = first.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let req = Req {
        method,
        path,
        headers,
    };
    let len: u64 = req
        .header("Content-Length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let _ = std::io::copy(&mut s.take(len), &mut std::io::sink());
    Some(req)
}

fn write_reply(
    s: &mut dyn Write,
    req: &Req,
    reply: Reply,
    sent: &AtomicU64,
) -> std::io::Result<()> {
    let head = |code: u16, headers: &[(String, String)], len: Option<usize>| {
        let mut h = format!("HTTP/1.1 {code} X\r\nConnection: close\r\n");
        for (k, v) in headers {
            let _ = write!(h, "{k}: {v}\r\n");
        }
        if let Some(n) = len {
            let _ = write!(h, "Content-Length: {n}\r\n");
        }
        h.push_str("\r\n");
        h
    };
    match reply {
        Reply::Full(code, headers, body) => {
            s.write_all(head(code, &headers, Some(body.len())).as_bytes())?;
            if req.method != "HEAD" {
                s.write_all(&body)?;
            }
        }
        Reply::Drip(code, chunk, every, times) => {
            s.write_all(head(code, &[], None).as_bytes())?;
            s.flush()?;
            for _ in 0..times {
                std::thread::sleep(every);
                s.write_all(&chunk)?;
                s.flush()?;
                sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
        }
        Reply::Endless(code, len) => {
            s.write_all(head(code, &[], None).as_bytes())?;
            let buf = vec![0u8; 1 << 16];
            let mut left = len;
            while left > 0 {
                let n = usize::try_from(left.min(buf.len() as u64)).expect("fits");
                s.write_all(&buf[..n])?;
                sent.fetch_add(n as u64, Ordering::Relaxed);
                left -= n as u64;
            }
        }
    }
    s.flush()
}

impl Fake {
    fn start(tls: Option<Arc<rustls::ServerConfig>>, handler: Handler) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sent = Arc::new(AtomicU64::new(0));
        let (l2, s2) = (log.clone(), sent.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(tcp) = conn else { continue };
                let (tls, handler, log, sent) =
                    (tls.clone(), handler.clone(), l2.clone(), s2.clone());
                std::thread::spawn(move || {
                    let _ = tcp.set_read_timeout(Some(Duration::from_secs(30)));
                    let mut stream: Box<dyn ReadWrite> = match tls {
                        Some(cfg) => {
                            let Ok(conn) = rustls::ServerConnection::new(cfg) else {
                                return;
                            };
                            Box::new(rustls::StreamOwned::new(conn, tcp))
                        }
                        None => Box::new(tcp),
                    };
                    let Some(req) = read_request(&mut stream) else {
                        return;
                    };
                    log.lock().expect("log").push(req.clone());
                    let reply = handler(&req);
                    let _ = write_reply(&mut stream, &req, reply, &sent);
                    stream.close();
                });
            }
        });
        Fake { port, log, sent }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<Req> {
        self.log.lock().expect("log").clone()
    }
}

trait ReadWrite: Read + Write + Send {
    fn close(&mut self);
}

impl ReadWrite for std::net::TcpStream {
    fn close(&mut self) {}
}

impl ReadWrite for rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream> {
    fn close(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush();
    }
}

/// A CA and a certificate for 127.0.0.1 and localhost, made by openssl; `None` (skipped with a
/// message) without openssl.
struct Tls {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    config: Arc<rustls::ServerConfig>,
}

impl Tls {
    fn make() -> Option<Tls> {
        use rustls_pki_types::pem::PemObject as _;
        let openssl = common::tool("openssl")?;
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path();
        let run = |args: &[&str]| {
            let o = Command::new(&openssl)
                .args(args)
                .current_dir(d)
                .output()
                .expect("openssl runs");
            assert!(
                o.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=fake registry CA",
        ]);
        run(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "tls.key",
            "-out",
            "tls.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        std::fs::write(
            d.join("ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
        )
        .expect("write");
        run(&[
            "x509",
            "-req",
            "-in",
            "tls.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext",
            "-out",
            "tls.crt",
        ]);
        let certs = rustls_pki_types::CertificateDer::pem_file_iter(d.join("tls.crt"))
            .expect("certs")
            .collect::<Result<Vec<_>, _>>()
            .expect("certs");
        let key = rustls_pki_types::PrivateKeyDer::from_pem_file(d.join("tls.key")).expect("key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
        Some(Tls {
            ca: d.join("ca.crt"),
            _dir: dir,
            config: Arc::new(config),
        })
    }
}

/// Serve one image `test/app:1` (manifest, config, layer); `None` for any other path.
fn serve_image(req: &Req, m: &[u8], c: &[u8], l: &[u8]) -> Option<Reply> {
    if req.path == "/v2/test/app/manifests/1"
        || req.path == format!("/v2/test/app/manifests/{}", sha(m))
    {
        return Some(Reply::body(OCI_MANIFEST, m.to_vec()));
    }
    for b in [c, l] {
        if req.path == format!("/v2/test/app/blobs/{}", sha(b)) {
            return Some(Reply::body("application/octet-stream", b.to_vec()));
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Running the binary, bounded.

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    fn text(&self) -> String {
        format!(
            "exit {:?} after {:.1}s\n--- stdout\n{}--- stderr\n{}",
            self.code,
            self.took.as_secs_f64(),
            self.stdout,
            self.stderr
        )
    }

    /// No line a CI log or a reader would take for something else (an annotation, a `modified:`
    /// line on stderr or the forged `modified: x` on stdout), no ESC, no password.
    fn assert_clean(&self) {
        for line in self.stdout.lines() {
            assert!(
                !line.starts_with("::") && !line.starts_with("modified: x"),
                "a forged line: {line:?}\n{}",
                self.text()
            );
        }
        for line in self.stderr.lines() {
            assert!(
                !line.starts_with("::") && !line.starts_with("modified:"),
                "a forged line: {line:?}\n{}",
                self.text()
            );
        }
        assert!(
            !self.stdout.contains('\u{1b}') && !self.stderr.contains('\u{1b}'),
            "ESC printed: {}",
            self.text()
        );
        assert!(
            !self.stderr.contains(PASSWORD) && !self.stdout.contains(PASSWORD),
            "the password printed: {}",
            self.text()
        );
    }
}

/// Run misp-gen with `args` under `ulimit -v` (2 GiB) and a time bound; the registry
/// credentials given (or none), every other registry variable removed.
fn run(args: &[&str], creds: bool, env: &[(&str, &str)], bound: Duration) -> Run {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("ulimit -v 2097152; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_misp-gen"))
        .args(args)
        .env_remove("MISP_GEN_REGISTRY_USER")
        .env_remove("MISP_GEN_REGISTRY_PASSWORD")
        .env_remove("MISP_GEN_REGISTRY_CA")
        .env_remove("MISP_GEN_REGISTRY_TIMEOUT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if creds {
        c.env("MISP_GEN_REGISTRY_USER", USER)
            .env("MISP_GEN_REGISTRY_PASSWORD", PASSWORD);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let started = Instant::now();
    let mut child = c.spawn().expect("misp-gen starts");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if started.elapsed() > bound {
            let _ = child.kill();
            let _ = child.wait();
            panic!("misp-gen {args:?} ran longer than {bound:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let r = Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&t_out.join().expect("stdout")).into_owned(),
        stderr: String::from_utf8_lossy(&t_err.join().expect("stderr")).into_owned(),
        took: started.elapsed(),
    };
    assert!(
        r.code.is_some(),
        "misp-gen {args:?} died of a signal: {}",
        r.text()
    );
    assert_ne!(
        r.code,
        Some(101),
        "misp-gen {args:?} panicked: {}",
        r.text()
    );
    r
}

const BOUND: Duration = Duration::from_secs(60);

fn write_spec(dir: &Path, image: &str) -> PathBuf {
    let p = dir.join("spec.yaml");
    std::fs::write(&p, forge::spec_text(image)).expect("write spec");
    p
}

/// `bundle SPEC --out DIR/x.bundle` against the fake registry `reg`.
fn bundle_from(
    dir: &Path,
    reg: &str,
    extra: &[&str],
    creds: bool,
    env: &[(&str, &str)],
) -> (Run, PathBuf) {
    let spec = write_spec(dir, &format!("{reg}/test/app:1"));
    let out = dir.join("x.bundle");
    let mut args = vec![
        "bundle",
        spec.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    (run(&args, creds, env, BOUND), out)
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// Credentials.

// Pins that a bearer challenge naming a token service over plain HTTP gets no credentials: the
// service is never asked with them, and the run fails (exit 1) saying why.
#[test]
fn a_token_service_over_plain_http_gets_no_credentials() {
    let Some(tls) = Tls::make() else { return };
    let attacker = Fake::start(
        None,
        Arc::new(|_| Reply::body("application/json", br#"{"token":"t"}"#.to_vec())),
    );
    let realm = format!("http://{}/token", attacker.host());
    let reg = Fake::start(
        Some(tls.config.clone()),
        Arc::new(move |r| {
            if r.has_auth() {
                Reply::status(404)
            } else {
                Reply::with(
                    401,
                    "WWW-Authenticate",
                    &format!("Bearer realm=\"{realm}\",service=\"fake\""),
                )
            }
        }),
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let ca = tls.ca.to_str().expect("utf-8").to_owned();
    let (o, out) = bundle_from(tmp.path(), &reg.host(), &["--ca-file", &ca], true, &[]);
    assert_eq!(o.code, Some(1), "{}", o.text());
    assert!(o.stderr.contains("plain HTTP"), "{}", o.text());
    let leaked: Vec<_> = attacker
        .requests()
        .into_iter()
        .filter(Req::has_auth)
        .collect();
    assert!(
        leaked.is_empty(),
        "credentials sent over plain HTTP: {leaked:?}"
    );
    assert!(!out.exists());
    o.assert_clean();
}

/// The site registry for `push`: basic auth, no blob, every upload sent to `location`.
fn upload_registry(tls: &Tls, location: String) -> Fake {
    Fake::start(
        Some(tls.config.clone()),
        Arc::new(move |r| {
            if !r.has_auth() {
                return Reply::with(401, "WWW-Authenticate", "Basic realm=\"fake\"");
            }
            match r.method.as_str() {
                "HEAD" => Reply::status(404),
                "POST" => Reply::with(202, "Location", &location),
                _ => Reply::status(201),
            }
        }),
    )
}

// Pins that an upload `Location` on another origin gets no credentials: over plain HTTP it is
// refused (exit 1), nothing is rendered, and the password reaches neither that host nor the
// terminal.
#[test]
fn an_upload_location_elsewhere_gets_no_credentials() {
    let Some(tls) = Tls::make() else { return };
    let attacker = Fake::start(None, Arc::new(|_| Reply::status(201)));
    let reg = upload_registry(&tls, format!("http://{}/upload/1", attacker.host()));
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("b.bundle");
    Forge::good("example.org/test/app:1").write(&file);
    let out = tmp.path().join("out");
    let o = run(
        &[
            "bundle",
            "push",
            file.to_str().expect("utf-8"),
            "--registry",
            &reg.host(),
            "--ca-file",
            tls.ca.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
        ],
        true,
        &[],
        BOUND,
    );
    assert_eq!(o.code, Some(1), "{}", o.text());
    assert!(o.stderr.contains("plain HTTP"), "{}", o.text());
    let leaked: Vec<_> = attacker
        .requests()
        .into_iter()
        .filter(Req::has_auth)
        .collect();
    assert!(
        leaked.is_empty(),
        "credentials sent to the upload location: {leaked:?}"
    );
    assert!(attacker.requests().is_empty(), "{:?}", attacker.requests());
    assert!(!out.exists(), "rendered after a failed push");
    o.assert_clean();
}

// Pins that a redirect to another origin (another host name, over TLS) is followed without the
// credentials: the registry's own origin alone gets them.
#[test]
fn a_redirect_to_another_origin_gets_no_credentials() {
    let Some(tls) = Tls::make() else { return };
    let (m, c, l) = forge::image(&forge::host_arch(), b"redirected layer");
    let reg = Arc::new(Mutex::new(0u16));
    let port = reg.clone();
    let fake = Fake::start(
        Some(tls.config.clone()),
        Arc::new(move |r| {
            let p = *port.lock().expect("port");
            if r.path.starts_with("/elsewhere/") {
                let real = Req {
                    path: r.path.trim_start_matches("/elsewhere").to_owned(),
                    ..r.clone()
                };
                return serve_image(&real, &m, &c, &l).unwrap_or(Reply::status(404));
            }
            if !r.has_auth() {
                return Reply::with(401, "WWW-Authenticate", "Basic realm=\"fake\"");
            }
            Reply::with(
                307,
                "Location",
                &format!("https://localhost:{p}/elsewhere{}", r.path),
            )
        }),
    );
    *reg.lock().expect("port") = fake.port;
    let tmp = tempfile::tempdir().expect("tmp");
    let ca = tls.ca.to_str().expect("utf-8").to_owned();
    let (o, out) = bundle_from(tmp.path(), &fake.host(), &["--ca-file", &ca], true, &[]);
    assert_eq!(o.code, Some(0), "{}", o.text());
    assert!(out.exists());
    let redirected: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/elsewhere/"))
        .collect();
    assert!(!redirected.is_empty());
    assert!(
        redirected.iter().all(|r| !r.has_auth()),
        "credentials followed a redirect: {redirected:?}"
    );
    o.assert_clean();
}

// Pins --plain-http: without it a plain-HTTP registry is a TLS failure (exit 1); with it an open
// registry works, and one that asks for credentials gets none (exit 1, saying why).
#[test]
fn plain_http_needs_the_flag_and_never_carries_credentials() {
    let (m, c, l) = forge::image(&forge::host_arch(), b"plain layer");
    let open = Fake::start(
        None,
        Arc::new(move |r| serve_image(r, &m, &c, &l).unwrap_or(Reply::status(404))),
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let (o, out) = bundle_from(tmp.path(), &open.host(), &[], false, &[]);
    assert_eq!(o.code, Some(1), "{}", o.text());
    assert!(!out.exists());
    let (o, out) = bundle_from(tmp.path(), &open.host(), &["--plain-http"], false, &[]);
    assert_eq!(o.code, Some(0), "{}", o.text());
    let v = run(
        &["bundle", "verify", out.to_str().expect("utf-8")],
        false,
        &[],
        BOUND,
    );
    assert_eq!(v.code, Some(0), "{}", v.text());

    let closed = Fake::start(
        None,
        Arc::new(|_| Reply::with(401, "WWW-Authenticate", "Basic realm=\"fake\"")),
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let (o, out) = bundle_from(tmp.path(), &closed.host(), &["--plain-http"], true, &[]);
    assert_eq!(o.code, Some(1), "{}", o.text());
    assert!(o.stderr.contains("HTTPS only"), "{}", o.text());
    assert!(
        closed.requests().iter().all(|r| !r.has_auth()),
        "{:?}",
        closed.requests()
    );
    assert!(!out.exists());
    o.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// Crashes and bombs.

// Pins that a redirect to `file:` or `data:` is a clear exit 1, not a panic.
#[test]
fn a_redirect_to_a_file_or_data_url_is_refused() {
    let Some(tls) = Tls::make() else { return };
    for target in [
        "file:///etc/passwd",
        "data:text/plain,hello",
        "ftp://127.0.0.1/x",
    ] {
        let fake = Fake::start(
            Some(tls.config.clone()),
            Arc::new(move |_| Reply::with(302, "Location", target)),
        );
        let tmp = tempfile::tempdir().expect("tmp");
        let ca = tls.ca.to_str().expect("utf-8").to_owned();
        let (o, out) = bundle_from(tmp.path(), &fake.host(), &["--ca-file", &ca], false, &[]);
        assert_eq!(o.code, Some(1), "{target}: {}", o.text());
        assert!(
            o.stderr.contains("not an http(s) URL"),
            "{target}: {}",
            o.text()
        );
        assert!(!out.exists());
        assert_eq!(
            names_in(tmp.path()),
            ["spec.yaml"],
            "nothing staged is left"
        );
    }
}

// Pins that a blob stops at its declared size: a registry that sends 64 MiB for a layer of
// 1000 bytes is cut after the 1000 (and one), exit 1, nothing left.
#[test]
fn a_blob_longer_than_its_descriptor_stops_at_its_size() {
    let Some(tls) = Tls::make() else { return };
    let layer = vec![0u8; 1000];
    let (m, c, l) = forge::image(&forge::host_arch(), &layer);
    let ld = sha(&l);
    let fake = Fake::start(
        Some(tls.config.clone()),
        Arc::new(move |r| {
            if r.path.ends_with(&ld) {
                return Reply::Endless(200, 64 << 20);
            }
            serve_image(r, &m, &c, &l).unwrap_or(Reply::status(404))
        }),
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let ca = tls.ca.to_str().expect("utf-8").to_owned();
    let (o, out) = bundle_from(tmp.path(), &fake.host(), &["--ca-file", &ca], false, &[]);
    assert_eq!(o.code, Some(1), "{}", o.text());
    assert!(
        o.stderr.contains("longer than the 1000 bytes"),
        "{}",
        o.text()
    );
    assert!(!out.exists());
    assert_eq!(
        names_in(tmp.path()),
        ["spec.yaml"],
        "nothing staged is left"
    );
    std::thread::sleep(Duration::from_millis(200));
    let sent = fake.sent.load(Ordering::Relaxed);
    assert!(
        sent < 32 << 20,
        "the client read {sent} bytes of a 1000-byte layer"
    );
}

// Pins the per-request deadline: a registry that drips a manifest one byte at a time is cut off
// at the deadline (here MISP_GEN_REGISTRY_TIMEOUT=2), exit 1, naming the variable.
#[test]
fn a_slow_drip_is_cut_off_at_the_deadline() {
    let Some(tls) = Tls::make() else { return };
    let fake = Fake::start(
        Some(tls.config.clone()),
        Arc::new(|_| Reply::Drip(200, b" ".to_vec(), Duration::from_millis(300), 300)),
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let ca = tls.ca.to_str().expect("utf-8").to_owned();
    let spec = write_spec(tmp.path(), &format!("{}/test/app:1", fake.host()));
    let out = tmp.path().join("x.bundle");
    let o = run(
        &[
            "bundle",
            spec.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
            "--ca-file",
            &ca,
        ],
        false,
        &[("MISP_GEN_REGISTRY_TIMEOUT", "2")],
        Duration::from_secs(40),
    );
    assert_eq!(o.code, Some(1), "{}", o.text());
    // At the deadline itself: a request without a blob got 4 s more (6 s here).
    assert!(
        o.took < Duration::from_secs(5),
        "{:?}: {}",
        o.took,
        o.text()
    );
    assert!(
        o.stderr.contains("MISP_GEN_REGISTRY_TIMEOUT"),
        "{}",
        o.text()
    );
    assert!(!out.exists());
    let o = run(
        &[
            "bundle",
            spec.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
        ],
        false,
        &[("MISP_GEN_REGISTRY_TIMEOUT", "soon")],
        BOUND,
    );
    assert_eq!(o.code, Some(2), "{}", o.text());
}

// Pins the floor rate of a blob: a layer that declares a huge size (1 TiB: weeks at the floor
// rate) and then drips 1 KiB every 200 ms is cut off once it falls behind 256 KiB/s past the base
// deadline (MISP_GEN_REGISTRY_TIMEOUT=2), not when the declared size's budget runs out.
#[test]
fn a_dripping_blob_that_declares_a_huge_size_is_cut_off() {
    let Some(tls) = Tls::make() else { return };
    let (m, c, l) = forge::image(&forge::host_arch(), b"small");
    let ld = sha(&l);
    let mut mj: serde_json::Value = serde_json::from_slice(&m).expect("json");
    mj["layers"][0]["size"] = json!(1u64 << 40);
    let m = serde_json::to_vec(&mj).expect("json");
    let fake = Fake::start(
        Some(tls.config.clone()),
        Arc::new(move |r| {
            if r.path.ends_with(&ld) {
                return Reply::Drip(200, vec![0u8; 1024], Duration::from_millis(200), 2000);
            }
            serve_image(r, &m, &c, &l).unwrap_or(Reply::status(404))
        }),
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let ca = tls.ca.to_str().expect("utf-8").to_owned();
    let (o, out) = bundle_from(
        tmp.path(),
        &fake.host(),
        &["--ca-file", &ca],
        false,
        &[("MISP_GEN_REGISTRY_TIMEOUT", "2")],
    );
    assert_eq!(o.code, Some(1), "{}", o.text());
    assert!(o.took < Duration::from_secs(20), "{}", o.text());
    assert!(o.stderr.contains("256 KiB/s"), "{}", o.text());
    assert!(!out.exists());
}

// Pins the deadline's bounds: a value past a day (here the largest u64, which overflowed the
// deadline's sum and panicked) is a usage error, exit 2, before any request.
#[test]
fn a_deadline_past_a_day_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    for v in ["18446744073709551615", "9223372036854775807", "86401"] {
        let (o, out) = bundle_from(
            tmp.path(),
            "127.0.0.1:9",
            &["--plain-http"],
            false,
            &[("MISP_GEN_REGISTRY_TIMEOUT", v)],
        );
        assert_eq!(o.code, Some(2), "{v}: {}", o.text());
        assert!(o.stderr.contains("86400"), "{v}: {}", o.text());
        assert!(!out.exists());
    }
}

// Pins that a bundle is a file: `bundle verify` and `bundle push` of a FIFO answer at once (the
// open itself blocked before), and `bundle --out` refuses a FIFO or a directory in its place
// instead of renaming the archive over it (as root it replaced /dev/full so), before any request.
#[test]
fn a_bundle_is_a_regular_file_on_both_ends() {
    let tmp = tempfile::tempdir().expect("tmp");
    let fifo = tmp.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", fifo.display());
    let f = fifo.to_str().expect("utf-8");
    for args in [
        vec!["bundle", "verify", f],
        vec![
            "bundle",
            "push",
            f,
            "--registry",
            "127.0.0.1:9",
            "--plain-http",
        ],
    ] {
        let o = run(&args, false, &[], Duration::from_secs(20));
        assert_eq!(o.code, Some(1), "{args:?}: {}", o.text());
        assert!(o.stderr.contains("not a file"), "{args:?}: {}", o.text());
    }
    let dir = tmp.path().join("dir.bundle");
    std::fs::create_dir(&dir).expect("mkdir");
    for out in [&fifo, &dir] {
        let spec = write_spec(tmp.path(), "127.0.0.1:9/test/app:1");
        let o = run(
            &[
                "bundle",
                spec.to_str().expect("utf-8"),
                "--out",
                out.to_str().expect("utf-8"),
                "--plain-http",
            ],
            false,
            &[],
            Duration::from_secs(20),
        );
        assert_eq!(o.code, Some(2), "{}: {}", out.display(), o.text());
        assert!(o.stderr.contains("not a file"), "{}", o.text());
    }
    let kind = std::fs::symlink_metadata(&fifo)
        .expect("still there")
        .file_type();
    assert!(
        std::os::unix::fs::FileTypeExt::is_fifo(&kind),
        "the FIFO was replaced"
    );
    assert!(dir.is_dir(), "the directory was replaced");
}

// Pins the bound on an image config: one that declares more than 4 MiB is refused before it is
// read (exit 1), whatever its digest.
#[test]
fn an_image_config_over_4_mib_is_refused() {
    let Some(tls) = Tls::make() else { return };
    let config = serde_json::to_vec(&json!({
        "architecture": forge::host_arch(), "os": "linux", "pad": "x".repeat(5 << 20),
    }))
    .expect("json");
    let layer = b"small".to_vec();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(&config), "size": config.len() },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(&layer), "size": layer.len() }],
    }))
    .expect("json");
    let fake = Fake::start(
        Some(tls.config.clone()),
        Arc::new(move |r| serve_image(r, &manifest, &config, &layer).unwrap_or(Reply::status(404))),
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let ca = tls.ca.to_str().expect("utf-8").to_owned();
    let (o, out) = bundle_from(tmp.path(), &fake.host(), &["--ca-file", &ca], false, &[]);
    assert_eq!(o.code, Some(1), "{}", o.text());
    assert!(o.stderr.contains("image config"), "{}", o.text());
    assert!(!out.exists());
}

// Pins that an index's entries are fetched once per digest: an index that lists the host's
// manifest 30 times costs one request for it.
#[test]
fn an_index_entry_is_fetched_once_per_digest() {
    let Some(tls) = Tls::make() else { return };
    let (m, c, l) = forge::image(&forge::host_arch(), b"indexed layer");
    let entry = json!({
        "mediaType": OCI_MANIFEST, "digest": sha(&m), "size": m.len(),
        "platform": { "os": "linux", "architecture": forge::host_arch() },
    });
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": vec![entry; 30],
    }))
    .expect("json");
    let md = sha(&m);
    let fake = Fake::start(
        Some(tls.config.clone()),
        Arc::new(move |r| {
            if r.path == "/v2/test/app/manifests/1" {
                return Reply::body(OCI_INDEX, index.clone());
            }
            serve_image(r, &m, &c, &l).unwrap_or(Reply::status(404))
        }),
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let ca = tls.ca.to_str().expect("utf-8").to_owned();
    let (o, _) = bundle_from(tmp.path(), &fake.host(), &["--ca-file", &ca], false, &[]);
    assert_eq!(o.code, Some(0), "{}", o.text());
    let n = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with(&md))
        .count();
    assert_eq!(n, 1, "the same manifest fetched {n} times");
}

// Pins that a registry's error text is printed escaped and cut: a line break in it cannot forge
// a CI annotation or a `modified:` line, and ESC never reaches the terminal.
#[test]
fn registry_messages_are_escaped() {
    let Some(tls) = Tls::make() else { return };
    let body = serde_json::to_vec(&json!({"errors": [{
        "code": "DENIED\n::error file=spec.yaml::forged",
        "message": format!("\u{1b}[2J\nmodified: output/compose/compose.yaml\n{}", "x".repeat(10_000)),
    }]}))
    .expect("json");
    let fake = Fake::start(
        Some(tls.config.clone()),
        Arc::new(move |_| {
            Reply::Full(
                500,
                vec![("Content-Type".into(), "application/json".into())],
                body.clone(),
            )
        }),
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let ca = tls.ca.to_str().expect("utf-8").to_owned();
    let (o, _) = bundle_from(tmp.path(), &fake.host(), &["--ca-file", &ca], false, &[]);
    assert_eq!(o.code, Some(1), "{}", o.text());
    assert!(o.stderr.contains("DENIED\\n::error"), "{}", o.text());
    assert!(
        o.stderr.len() < 4000,
        "a registry's message is cut: {} bytes",
        o.stderr.len()
    );
    o.assert_clean();
}

// Pins that --ca-file is a regular file of bounded size: /dev/zero, a FIFO and a 5 MiB file are
// each a usage error (exit 2) at once, not an abort or a hang.
#[test]
fn a_ca_file_is_a_small_regular_file() {
    let tmp = tempfile::tempdir().expect("tmp");
    let fifo = tmp.path().join("fifo");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    let big = tmp.path().join("big.pem");
    std::fs::write(&big, vec![b'a'; 5 << 20]).expect("write");
    let mut cases = vec![PathBuf::from("/dev/zero"), big];
    if made {
        cases.push(fifo);
    } else {
        eprintln!("skipping the FIFO case: mkfifo failed");
    }
    for ca in cases {
        let (o, out) = bundle_from(
            tmp.path(),
            "127.0.0.1:9",
            &["--ca-file", ca.to_str().expect("utf-8")],
            false,
            &[],
        );
        assert_eq!(o.code, Some(2), "{}: {}", ca.display(), o.text());
        assert!(o.took < Duration::from_secs(20), "{}", o.text());
        assert!(o.stderr.contains("--ca-file"), "{}", o.text());
        assert!(!out.exists());
    }
}

// ---------------------------------------------------------------------------------------------
// Bundles that lie.

fn verify(file: &Path) -> Run {
    run(
        &["bundle", "verify", file.to_str().expect("utf-8")],
        false,
        &[],
        BOUND,
    )
}

// Pins that a manifest that lists itself is read once: verify names the blob whose content is
// not its digest (exit 1) instead of overflowing the stack.
#[test]
fn a_manifest_that_lists_itself_is_read_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let me = sha(b"not this content");
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{ "mediaType": OCI_INDEX, "digest": me, "size": 10 }],
    }))
    .expect("json");
    let mut f = Forge::good("example.org/test/app:1");
    f.put(&format!("images/blobs/sha256/{}", &me[7..]), index);
    f.set_images(&[("example.org/test/app:1", &me, OCI_INDEX)]);
    f.resum();
    let file = tmp.path().join("b.bundle");
    f.write(&file);
    let o = verify(&file);
    assert_eq!(o.code, Some(1), "{}", o.text());
    assert!(
        o.stdout
            .contains(&format!("digest: images/blobs/sha256/{}", &me[7..])),
        "{}",
        o.text()
    );
}

/// An index over `child` (an index or a manifest) listing it `times` times.
fn index_of(child: &[u8], media: &str, times: usize) -> Vec<u8> {
    let entry = json!({
        "mediaType": media, "digest": sha(child), "size": child.len(),
        "platform": { "os": "linux", "architecture": forge::host_arch() },
    });
    serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": vec![entry; times],
    }))
    .expect("json")
}

// Pins one visited set for the walk of manifests: three levels of indexes, each listing the one
// below 1000 times (10^9 paths), verify in a moment; and nesting deeper than the bound is a clear
// exit 1 (20000 levels: a stack overflow before).
#[test]
fn a_dag_of_indexes_is_walked_once_per_manifest_and_nesting_is_bounded() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (m, c, l) = forge::image(&forge::host_arch(), b"dag layer");
    let i1 = index_of(&m, OCI_MANIFEST, 1000);
    let i2 = index_of(&i1, OCI_INDEX, 1000);
    let i3 = index_of(&i2, OCI_INDEX, 1000);
    let image = "example.org/test/app:1";
    let f = Forge::new(
        &forge::spec_text(image),
        &[(image, &sha(&i3), OCI_INDEX)],
        &[m.clone(), c.clone(), l.clone(), i1, i2, i3],
    );
    let file = tmp.path().join("dag.bundle");
    f.write(&file);
    let o = verify(&file);
    assert_eq!(o.code, Some(0), "{}", o.text());
    assert!(o.took < Duration::from_secs(20), "{}", o.text());

    let mut blobs = vec![m.clone(), c, l];
    let mut top = m;
    let mut media = OCI_MANIFEST;
    for _ in 0..20_000 {
        top = index_of(&top, media, 1);
        media = OCI_INDEX;
        blobs.push(top.clone());
    }
    let f = Forge::new(
        &forge::spec_text(image),
        &[(image, &sha(&top), OCI_INDEX)],
        &blobs,
    );
    let file = tmp.path().join("deep.bundle");
    f.write(&file);
    let o = verify(&file);
    assert_eq!(o.code, Some(1), "{}", o.text());
    assert!(o.stdout.contains("nested more than 8 deep"), "{}", o.text());
}

// Pins that a digest is checked where it is read: a layer "digest" that is a path is named by
// verify (exit 1) and push refuses it before it reaches a URL (nothing sent).
#[test]
fn a_descriptor_digest_that_is_not_one_is_refused() {
    let Some(tls) = Tls::make() else { return };
    let tmp = tempfile::tempdir().expect("tmp");
    let config = b"{\"architecture\":\"amd64\",\"os\":\"linux\"}".to_vec();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(&config), "size": config.len() },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:../../../../v2/other/manifests/latest", "size": 5 }],
    }))
    .expect("json");
    let image = "example.org/test/app:1";
    let f = Forge::new(
        &forge::spec_text(image),
        &[(image, &sha(&manifest), OCI_MANIFEST)],
        &[manifest, config],
    );
    let file = tmp.path().join("b.bundle");
    f.write(&file);
    let o = verify(&file);
    assert_eq!(o.code, Some(1), "{}", o.text());
    assert!(
        o.stdout.contains("sha256:../../../../v2/other"),
        "{}",
        o.text()
    );
    let reg = upload_registry(&tls, "/upload/1".into());
    let out = tmp.path().join("out");
    let o = run(
        &[
            "bundle",
            "push",
            file.to_str().expect("utf-8"),
            "--registry",
            &reg.host(),
            "--ca-file",
            tls.ca.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
        ],
        true,
        &[],
        BOUND,
    );
    assert_eq!(o.code, Some(1), "{}", o.text());
    assert!(reg.requests().is_empty(), "push sent {:?}", reg.requests());
    assert!(!out.exists());
}

// Pins one name per file: `spec.yaml` and `./spec.yaml` (and `images//x`) are one name, so a
// bundle that carries both is refused (exit 1) instead of verify and `tar xf` seeing different
// files; links, devices, FIFOs, `..` and absolute names are refused too.
#[test]
fn entry_names_are_normalised_and_kinds_checked() {
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("b.bundle");
    let mut f = Forge::good("example.org/test/app:1");
    f.push(
        "./spec.yaml",
        forge::Kind::File,
        forge::spec_text("example.org/evil/app:1").into_bytes(),
    );
    f.resum();
    f.write(&file);
    let o = verify(&file);
    assert_eq!(o.code, Some(1), "{}", o.text());
    assert!(o.stderr.contains("spec.yaml: twice"), "{}", o.text());
    for (name, kind) in [
        ("output/link", forge::Kind::Symlink("/etc/passwd".into())),
        ("output/hard", forge::Kind::Hardlink("spec.yaml".into())),
        ("output/fifo", forge::Kind::Fifo),
        ("output/tty", forge::Kind::CharDevice),
        ("../escape", forge::Kind::File),
        ("/etc/cron.d/x", forge::Kind::File),
    ] {
        let mut f = Forge::good("example.org/test/app:1");
        f.push(name, kind, b"x".to_vec());
        f.write(&file);
        let o = verify(&file);
        assert_eq!(o.code, Some(1), "{name}: {}", o.text());
        assert!(
            o.stderr
                .contains(name.trim_start_matches("../").trim_start_matches('/')),
            "{name}: {}",
            o.text()
        );
    }
}

// Pins that an entry name is printed escaped: a line break in it cannot forge a `::error` or a
// `modified:` line in verify's list.
#[test]
fn entry_names_are_printed_escaped() {
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("b.bundle");
    let mut f = Forge::good("example.org/test/app:1");
    f.push(
        "output/a\n::error::forged\nmodified: x\u{1b}[2J",
        forge::Kind::File,
        b"x".to_vec(),
    );
    f.write(&file);
    let o = verify(&file);
    assert_eq!(o.code, Some(1), "{}", o.text());
    assert!(
        o.stdout.contains("unexpected: output/a\\n::error::forged"),
        "{}",
        o.text()
    );
    o.assert_clean();
}

// Pins that push's refusal is one bounded line: 3 000 unexpected entries are named ten at a
// time with a count of the rest (it was one line of every entry, 9 MB for 300 000), while
// `bundle verify` still lists each.
#[test]
fn a_refusal_names_the_first_differences_and_counts_the_rest() {
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("many.bundle");
    let mut f = Forge::good("example.org/test/app:1");
    for i in 0..3000 {
        f.push(&format!("output/x{i:05}"), forge::Kind::File, b"x".to_vec());
    }
    f.write(&file);
    let o = run(
        &[
            "bundle",
            "push",
            file.to_str().expect("utf-8"),
            "--registry",
            "127.0.0.1:9",
            "--plain-http",
        ],
        false,
        &[],
        BOUND,
    );
    assert_eq!(o.code, Some(1), "{}", o.text());
    assert!(o.stderr.contains("and 2990 more"), "{}", o.text());
    assert!(o.stderr.len() < 4000, "{} bytes of refusal", o.stderr.len());
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.text());
    let v = verify(&file);
    assert_eq!(
        v.stdout.matches("unexpected: output/x").count(),
        3000,
        "{}",
        v.text()
    );
}

// Pins that bundle.json's images are the bundled spec's: an extra image (one that push would
// write over at the site, load would retag) and a missing one are each named by verify (exit 1),
// and push and load refuse before sending or loading anything.
#[test]
fn bundle_json_images_must_be_the_specs() {
    let Some(tls) = Tls::make() else { return };
    let tmp = tempfile::tempdir().expect("tmp");
    let image = "example.org/test/app:1";
    let mut f = Forge::good(image);
    let d = sha(&forge::image(&forge::host_arch(), b"layer payload").0);
    f.set_images(&[
        (image, &d, OCI_MANIFEST),
        ("docker.io/library/postgres:17", &d, OCI_MANIFEST),
    ]);
    f.resum();
    let file = tmp.path().join("extra.bundle");
    f.write(&file);
    let o = verify(&file);
    assert_eq!(o.code, Some(1), "{}", o.text());
    assert!(
        o.stdout
            .contains("extra image: docker.io/library/postgres:17"),
        "{}",
        o.text()
    );

    let reg = upload_registry(&tls, "/upload/1".into());
    let out = tmp.path().join("out");
    let o = run(
        &[
            "bundle",
            "push",
            file.to_str().expect("utf-8"),
            "--registry",
            &reg.host(),
            "--ca-file",
            tls.ca.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
        ],
        true,
        &[],
        BOUND,
    );
    assert_eq!(o.code, Some(1), "{}", o.text());
    assert!(
        o.stderr.contains("docker.io/library/postgres:17"),
        "{}",
        o.text()
    );
    assert!(reg.requests().is_empty(), "push sent {:?}", reg.requests());
    assert!(!out.exists());

    // load: an engine that notes it was run.
    let engine = tmp.path().join("engine.sh");
    let ran = tmp.path().join("engine-ran");
    std::fs::write(
        &engine,
        format!(
            "#!/bin/sh\ntouch '{}'\ncat >/dev/null\nexit 0\n",
            ran.display()
        ),
    )
    .expect("write");
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&engine, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let o = run(
        &[
            "bundle",
            "load",
            file.to_str().expect("utf-8"),
            "--engine",
            engine.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
        ],
        false,
        &[],
        BOUND,
    );
    assert_eq!(o.code, Some(1), "{}", o.text());
    assert!(
        !ran.exists(),
        "load ran the engine for a bundle whose images are not its spec's"
    );
    assert!(!out.exists());

    let mut f = Forge::good(image);
    f.set_images(&[]);
    f.resum();
    let file = tmp.path().join("missing.bundle");
    f.write(&file);
    let o = verify(&file);
    assert_eq!(o.code, Some(1), "{}", o.text());
    assert!(
        o.stdout.contains(&format!("missing image: {image}")),
        "{}",
        o.text()
    );
}

// Pins that push validates the bundled spec before it sends anything: a bundle whose spec is
// invalid (its checksums agreeing) is refused (exit 1) with the registry untouched.
#[test]
fn push_validates_the_spec_before_sending_anything() {
    let Some(tls) = Tls::make() else { return };
    let tmp = tempfile::tempdir().expect("tmp");
    let mut f = Forge::good("example.org/test/app:1");
    f.put(
        "spec.yaml",
        b"apiVersion: misp-gen/v1\nname: forge\nservices: 3\n".to_vec(),
    );
    f.resum();
    let file = tmp.path().join("b.bundle");
    f.write(&file);
    let reg = upload_registry(&tls, "/upload/1".into());
    let out = tmp.path().join("out");
    let o = run(
        &[
            "bundle",
            "push",
            file.to_str().expect("utf-8"),
            "--registry",
            &reg.host(),
            "--ca-file",
            tls.ca.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
        ],
        true,
        &[],
        BOUND,
    );
    assert_eq!(o.code, Some(1), "{}", o.text());
    assert!(reg.requests().is_empty(), "push sent {:?}", reg.requests());
    assert!(!out.exists());
}

// Pins that a run stopped by SIGTERM, SIGINT or SIGHUP while a layer streams in leaves nothing
// beside --out: the staging directory (`.x.bundle.parts-*`) is removed, and the process still
// ends as the signal ends it.
#[test]
fn a_signal_mid_run_leaves_no_staging() {
    let layer = vec![7u8; 4 << 20];
    let (m, c, l) = forge::image(&forge::host_arch(), &layer);
    let ld = sha(&l);
    let fake = Fake::start(
        None,
        Arc::new(move |r| {
            if r.path.ends_with(&ld) {
                return Reply::Drip(200, vec![7u8; 4096], Duration::from_millis(50), 1000);
            }
            serve_image(r, &m, &c, &l).unwrap_or(Reply::status(404))
        }),
    );
    for (sig, num) in [("TERM", 15), ("INT", 2), ("HUP", 1)] {
        let tmp = tempfile::tempdir().expect("tmp");
        let spec = write_spec(tmp.path(), &format!("{}/test/app:1", fake.host()));
        let out = tmp.path().join("x.bundle");
        let mut child = Command::new(env!("CARGO_BIN_EXE_misp-gen"))
            .args([
                "bundle",
                spec.to_str().expect("utf-8"),
                "--out",
                out.to_str().expect("utf-8"),
                "--plain-http",
            ])
            .env_remove("MISP_GEN_REGISTRY_USER")
            .env_remove("MISP_GEN_REGISTRY_PASSWORD")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("misp-gen starts");
        let staged = || {
            names_in(tmp.path())
                .into_iter()
                .any(|n| n.starts_with(".x.bundle."))
        };
        let t = Instant::now();
        while !staged() {
            assert!(t.elapsed() < Duration::from_secs(20), "no staging appeared");
            assert!(
                child.try_wait().expect("wait").is_none(),
                "misp-gen ended before the signal"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Into the layer's stream.
        std::thread::sleep(Duration::from_millis(300));
        let k = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(k.success());
        let t = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "SIG{sig} did not stop misp-gen"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        {
            use std::os::unix::process::ExitStatusExt as _;
            assert!(
                status.signal() == Some(num) || status.code() == Some(128 + num),
                "SIG{sig}: {status:?}"
            );
        }
        assert_eq!(
            names_in(tmp.path()),
            ["spec.yaml"],
            "SIG{sig} left staging behind"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Fuzzing `bundle verify`.

/// A random JSON value shaped like a manifest: the keys a walk reads, with digests that are
/// garbage, uppercase, absent from the bundle or `me` (the manifest's own name).
fn random_manifest(rng: &mut common::Rng, me: &str, depth: usize) -> serde_json::Value {
    let digest = |rng: &mut common::Rng| -> serde_json::Value {
        match rng.below(6) {
            0 => json!(me),
            1 => json!(format!("sha256:{}", "A".repeat(64))),
            2 => json!(sha(&rng.next().to_le_bytes())),
            3 => json!("sha256:../../../etc/passwd"),
            4 => json!(rng.next()),
            _ => json!(format!("sha256:{}\n::error::x", "a".repeat(64))),
        }
    };
    let size = |rng: &mut common::Rng| -> serde_json::Value {
        match rng.below(4) {
            0 => json!(u64::MAX),
            1 => json!(-1),
            2 => json!("big"),
            _ => json!(rng.below(1 << 20)),
        }
    };
    let desc = |rng: &mut common::Rng| {
        json!({
            "mediaType": if rng.below(2) == 0 { OCI_INDEX } else { OCI_MANIFEST },
            "digest": digest(rng),
            "size": size(rng),
            "platform": { "os": "linux", "architecture": forge::host_arch() },
        })
    };
    if depth > 3 {
        return json!(null);
    }
    let mut m = serde_json::Map::new();
    m.insert("schemaVersion".into(), json!(2));
    match rng.below(4) {
        0 => {
            let n = rng.below(5);
            m.insert(
                "manifests".into(),
                json!((0..n).map(|_| desc(rng)).collect::<Vec<_>>()),
            );
        }
        1 => {
            m.insert("config".into(), desc(rng));
            let n = rng.below(4);
            m.insert(
                "layers".into(),
                json!((0..n).map(|_| desc(rng)).collect::<Vec<_>>()),
            );
        }
        2 => {
            m.insert("manifests".into(), random_manifest(rng, me, depth + 1));
            m.insert("config".into(), json!([1, 2, 3]));
        }
        _ => {}
    }
    serde_json::Value::Object(m)
}

/// One generated case: a good bundle with one to three lies in it; what they are, for the
/// message.
fn fuzz_case(rng: &mut common::Rng) -> (Vec<u8>, Vec<String>) {
    let image = "example.org/test/app:1";
    let mut f = Forge::good(image);
    let mut lies = Vec::new();
    let mut raw_cut = None;
    let mut flip = None;
    for _ in 0..=rng.below(3) {
        let blobs: Vec<String> = f
            .entries
            .iter()
            .map(|e| e.0.clone())
            .filter(|n| n.starts_with("images/blobs/"))
            .collect();
        let some_blob = blobs[rng.below(blobs.len())].clone();
        let kind = rng.below(14);
        lies.push(format!("{kind}"));
        match kind {
            0 => f.push(
                &format!("output/l{}", rng.below(100)),
                if rng.below(2) == 0 {
                    forge::Kind::Symlink("../../etc/passwd".into())
                } else {
                    forge::Kind::Hardlink(some_blob.clone())
                },
                Vec::new(),
            ),
            1 => {
                // A manifest that lists itself, or two that list each other.
                let a = sha(&rng.next().to_le_bytes());
                let b = sha(&rng.next().to_le_bytes());
                let idx = |to: &str| {
                    serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
                        "manifests": [{"mediaType": OCI_INDEX, "digest": to, "size": 1}]}))
                    .expect("json")
                };
                f.put(&format!("images/blobs/sha256/{}", &a[7..]), idx(&b));
                f.put(
                    &format!("images/blobs/sha256/{}", &b[7..]),
                    idx(if rng.below(2) == 0 { &a } else { &b }),
                );
                f.set_images(&[(image, &a, OCI_INDEX)]);
            }
            2 => {
                let n = f.entries.len();
                let e = &mut f.entries[rng.below(n)];
                e.1 = forge::Kind::SizeLie(match rng.below(3) {
                    0 => u64::MAX >> 2,
                    1 => 1 << 40,
                    _ => e.2.len() as u64 + 1 + rng.below(5000) as u64,
                });
            }
            3 => {
                // A blob whose bytes are not its digest.
                if let Some(e) = f.entries.iter_mut().find(|e| e.0 == some_blob) {
                    e.2.push(b'!');
                }
            }
            4 => {
                let name = f.entries[rng.below(f.entries.len())].0.clone();
                let dup = match rng.below(3) {
                    0 => format!("./{name}"),
                    1 => name.replacen('/', "//", 1),
                    _ => name.clone(),
                };
                if dup == name && rng.below(2) == 0 {
                    f.push(&format!("{name}/."), forge::Kind::File, b"x".to_vec());
                } else {
                    f.push(&dup, forge::Kind::File, b"other".to_vec());
                }
            }
            5 => {
                let me = sha(&rng.next().to_le_bytes());
                let m = serde_json::to_vec(&random_manifest(rng, &me, 0)).expect("json");
                f.put(&format!("images/blobs/sha256/{}", &me[7..]), m);
                f.set_images(&[(image, &me, OCI_MANIFEST)]);
            }
            6 => f.put(
                "bundle.json",
                match rng.below(4) {
                    0 => (0..rng.below(200))
                        .map(|_| rng.next().to_le_bytes()[0])
                        .collect(),
                    1 => br#"{"bundle":1,"images":{"a":1}}"#.to_vec(),
                    2 => br#"{"bundle":1,"images":[{"image":"x","digest":"SHA256:AB"}]}"#.to_vec(),
                    _ => br#"{"bundle":99}"#.to_vec(),
                },
            ),
            7 => raw_cut = Some(rng.below(4096) + 1),
            8 => flip = Some(rng.next()),
            9 => {
                // Indexes nested deeper than the bound.
                let (m, c, l) = forge::image(&forge::host_arch(), b"deep");
                let mut top = m.clone();
                let mut media = OCI_MANIFEST;
                for b in [&m, &c, &l] {
                    f.put_blob(b);
                }
                for _ in 0..(9 + rng.below(20)) {
                    let entry = json!({"mediaType": media, "digest": sha(&top), "size": top.len(),
                        "platform": {"os": "linux", "architecture": forge::host_arch()}});
                    top = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
                        "manifests": [entry]}))
                    .expect("json");
                    media = OCI_INDEX;
                    f.put_blob(&top);
                }
                f.set_images(&[(image, &sha(&top), OCI_INDEX)]);
            }
            10 => {
                let d = sha(&forge::image(&forge::host_arch(), b"layer payload").0);
                f.set_images(&[
                    (image, &d, OCI_MANIFEST),
                    ("docker.io/library/redis:8", &d, OCI_MANIFEST),
                ]);
            }
            11 => {
                let mut sums = f
                    .entries
                    .iter()
                    .find(|e| e.0 == "SHA256SUMS")
                    .map(|e| e.2.clone())
                    .unwrap_or_default();
                sums.extend_from_slice(
                    format!(
                        "{}  output/gone\n::error::forged\n\u{1b}[2J  x\n",
                        "0".repeat(64)
                    )
                    .as_bytes(),
                );
                f.put("SHA256SUMS", sums);
                continue;
            }
            12 => f.push(
                &format!("output/\u{1b}]0;t\u{7}\n::warning::{}", rng.below(100)),
                forge::Kind::File,
                b"x".to_vec(),
            ),
            _ => f.push(
                match rng.below(3) {
                    0 => "../up",
                    1 => "/abs",
                    _ => "output/../../x",
                },
                forge::Kind::File,
                b"x".to_vec(),
            ),
        }
        if rng.below(2) == 0 {
            f.resum();
        }
    }
    let mut tar = f.tar();
    if let Some(at) = flip {
        // A byte of an entry's data (padding is not read, a flip there changes nothing).
        let data: Vec<(usize, usize)> = {
            let tmp = tempfile::NamedTempFile::new().expect("tmp");
            std::fs::write(tmp.path(), &tar).expect("write");
            misp_gen::bundle::archive::Archive::open(tmp.path())
                .map(|a| {
                    a.entries
                        .values()
                        .filter(|e| e.size > 0)
                        .map(|e| {
                            (
                                usize::try_from(e.offset).expect("fits"),
                                usize::try_from(e.size).expect("fits"),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        if !data.is_empty() {
            let (off, len) = data[usize::try_from(at % data.len() as u64).expect("fits")];
            tar[off + usize::try_from((at >> 8) % len as u64).expect("fits")] ^= 0x20;
        }
    }
    if let Some(cut) = raw_cut {
        // Within the entries, before the end-of-archive blocks.
        let end = tar.len().saturating_sub(1024 + 512);
        tar.truncate(end.saturating_sub(cut.min(end)));
    }
    (tar, lies)
}

// Pins that no generated bundle makes `bundle verify` panic, die of a signal, hang or exceed
// its memory: links, cycles, huge declared sizes, wrong digests, duplicate names, manifests of
// random shape, nesting past the bound, forged lines, cut and flipped archives; each ends in
// exit 1 or 2 with an error message, and prints nothing that forges a line. The seed is printed
// on failure (MISP_GEN_FUZZ_SEED=N to replay it; MISP_GEN_FUZZ_CASES=N for more cases).
#[test]
fn generated_hostile_bundles_end_in_a_clear_error() {
    let seed: u64 = std::env::var("MISP_GEN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x0292_026b_0d1e);
    let cases: usize = std::env::var("MISP_GEN_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(150);
    let tmp = tempfile::tempdir().expect("tmp");
    for case in 0..cases {
        let case_seed = seed ^ (case as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut rng = common::Rng(case_seed);
        let (tar, lies) = fuzz_case(&mut rng);
        let file = tmp.path().join(format!("case-{case}.bundle"));
        std::fs::write(&file, &tar).expect("write");
        let replay = format!(
            "case {case} (lies {lies:?}) of MISP_GEN_FUZZ_SEED={seed}, its own seed {case_seed}"
        );
        let o = std::panic::catch_unwind(|| verify(&file))
            .unwrap_or_else(|_| panic!("{replay}: see the panic above"));
        assert!(matches!(o.code, Some(1 | 2)), "{replay}: {}", o.text());
        assert!(
            o.stderr.contains("error: "),
            "{replay}: no message: {}",
            o.text()
        );
        assert!(o.took < Duration::from_secs(20), "{replay}: {}", o.text());
        let clean = std::panic::catch_unwind(|| o.assert_clean());
        assert!(clean.is_ok(), "{replay}: a forged line or ESC");
        let _ = std::fs::remove_file(&file);
    }
}

// Pins that a media type is checked where it is read: one with a line break (which would go into
// a `Content-Type` header at push) in bundle.json or in a descriptor is named by verify (exit 1).
#[test]
fn a_media_type_that_is_not_one_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let image = "example.org/test/app:1";
    let (m, c, l) = forge::image(&forge::host_arch(), b"layer payload");
    let evil = "application/vnd.oci.image.manifest.v1+json\r\nX-Injected: 1";
    let mut f = Forge::good(image);
    f.set_images(&[(image, &sha(&m), evil)]);
    f.resum();
    let file = tmp.path().join("b.bundle");
    f.write(&file);
    let o = verify(&file);
    assert_eq!(o.code, Some(1), "{}", o.text());
    assert!(o.stdout.contains("X-Injected"), "{}", o.text());
    o.assert_clean();

    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{ "mediaType": evil, "digest": sha(&m), "size": m.len(),
            "platform": { "os": "linux", "architecture": forge::host_arch() } }],
    }))
    .expect("json");
    let f = Forge::new(
        &forge::spec_text(image),
        &[(image, &sha(&index), OCI_INDEX)],
        &[m.clone(), c, l, index],
    );
    f.write(&file);
    let o = verify(&file);
    assert_eq!(o.code, Some(1), "{}", o.text());
    assert!(o.stdout.contains("media type"), "{}", o.text());
}

// Pins that bundle.json cannot make misp-gen read a file of the machine it runs on: a profile
// named by a path, without profile.yaml in the bundle, is refused (exit 1) and nothing of the
// file is printed.
#[test]
fn a_profile_named_by_a_path_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let host_file = tmp.path().join("host-secret.yaml");
    std::fs::write(&host_file, "name: host-only-secret-value\nbogus: [\n").expect("write");
    let mut f = Forge::good("example.org/test/app:1");
    let bundle_json = f
        .entries
        .iter()
        .find(|e| e.0 == "bundle.json")
        .expect("bundle.json")
        .2
        .clone();
    let mut j: serde_json::Value = serde_json::from_slice(&bundle_json).expect("json");
    j["profile"] = json!({ "name": host_file.display().to_string(), "file": null });
    f.put("bundle.json", serde_json::to_vec(&j).expect("json"));
    f.resum();
    let file = tmp.path().join("b.bundle");
    f.write(&file);
    let o = verify(&file);
    assert_eq!(o.code, Some(1), "{}", o.text());
    assert!(
        o.stderr.contains("without carrying its file"),
        "{}",
        o.text()
    );
    assert!(!o.stderr.contains("host-only-secret-value"), "{}", o.text());
}
