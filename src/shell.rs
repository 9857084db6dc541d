//! Shell command lines the targets run inside containers: health checks, quoted arguments.

use crate::spec::model::Scheme;

/// Single-quote for a POSIX shell.
#[must_use]
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The shell command of an HTTP check: curl if the image has it, else wget (busybox or GNU).
#[must_use]
pub fn http_check_command(scheme: Scheme, port: u16, path: &str) -> String {
    let url = sh_quote(&format!(
        "{}://127.0.0.1:{port}{path}",
        if scheme == Scheme::Https {
            "https"
        } else {
            "http"
        }
    ));
    format!(
        "curl -fsSk -o /dev/null {url} 2>/dev/null || wget -q -O /dev/null --no-check-certificate {url}"
    )
}

/// The shell command of a TCP check: `nc -z` where nc has it; nc without `-z` (busybox's) connects
/// with nothing to send and a 3-second bound; else bash's /dev/tcp.
#[must_use]
pub fn tcp_check_command(port: u16) -> String {
    format!(
        "nc -z 127.0.0.1 {port} 2>/dev/null || nc -w 3 127.0.0.1 {port} </dev/null 2>/dev/null || bash -c '</dev/tcp/127.0.0.1/{port}'"
    )
}
