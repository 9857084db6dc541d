//! Crash consistency: renders killed with SIGKILL at random points (validation, staging, the
//! renames of a TLS set whose hosts changed, the manifests), each followed by a complete render.
//! After every round the kept secrets are consistent (the leaf's key is the leaf's, the leaf is
//! signed by the kept CA and names the hosts asked for), nothing changed but the leaf the hosts
//! change asked for, no staged file is left, and `verify` is clean. It fails when no kill landed
//! mid-render (nothing staged was ever left to clean up, no TLS set was ever torn).
//!
//! `cargo test` runs a short version; `.ci/run` runs the full one (200 rounds of a 1000-service
//! spec) with `MISP_GEN_CRASH_ROUNDS` and `MISP_GEN_CRASH_SERVICES`, and prints the figures.

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Rng, Run as _, tree};

/// The binary under test, or `MISP_GEN_BIN` (`.ci/run` points it at the release build, so that
/// 200 rounds of 1000 services fit its time).
fn bin() -> std::process::Command {
    match std::env::var_os("MISP_GEN_BIN") {
        Some(b) => std::process::Command::new(b),
        None => common::bin(),
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A spec with `n` services, every one of them reading the password and mounting the TLS secret.
fn spec(n: u64, host: &str) -> String {
    let mut s = format!(
        "apiVersion: misp-gen/v1\nname: crash\nsecrets:\n  pw: {{ generate: password }}\n  tls: {{ generate: tls, hosts: [{host}] }}\nservices:\n"
    );
    for i in 0..n {
        let _ = write!(
            s,
            "  s{i}:\n    image: docker.io/library/nginx:1.27.3\n    env: {{ PW: '${{secrets.pw}}' }}\n    mounts: [{{ secret: tls, path: /etc/tls }}]\n"
        );
    }
    s
}

fn staged(out: &Path) -> usize {
    tree(out)
        .keys()
        .filter(|k| {
            k.rsplit('/')
                .next()
                .is_some_and(|f| f.starts_with(".misp-gen-"))
        })
        .count()
}

// Pins crash consistency of the output directory under SIGKILL at random points.
#[test]
fn killed_renders_leave_consistent_secrets() {
    let rounds = env_or("MISP_GEN_CRASH_ROUNDS", 12);
    let services = env_or("MISP_GEN_CRASH_SERVICES", 60);
    let seed = env_or("MISP_GEN_CRASH_SEED", 0x5eed_cafe) | 1;
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("out");
    let specs = [tmp.path().join("a.yaml"), tmp.path().join("b.yaml")];
    let hosts = ["a.example", "b.example"];
    for (p, h) in specs.iter().zip(hosts) {
        std::fs::write(p, spec(services, h)).expect("spec");
    }
    let full = |s: &Path| bin().arg("render").arg(s).arg("--out").arg(&out).ran();
    let started = Instant::now();
    let first = full(&specs[0]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    // How long a render that re-issues the leaf takes: kill points fall anywhere in it.
    let t = Instant::now();
    full(&specs[1]).success();
    let span = u64::try_from(t.elapsed().as_micros().max(1000)).unwrap_or(u64::MAX);
    let ca = std::fs::read(out.join("secrets/tls/ca.key")).expect("ca");
    let pw = std::fs::read(out.join("secrets/pw")).expect("pw");
    let (mut repaired, mut cleaned, mut finished) = (0, 0, 0);
    // A kill that lands mid-render (files staged, or a TLS set half renamed) is what the test is
    // for: when the random points have not hit one by the last round, more rounds run (up to
    // four times as many), and the test fails if none ever does.
    let mut round = 0;
    while round < rounds || (cleaned + repaired == 0 && round < rounds * 4) {
        // Alternate the hosts, so that every round's render re-issues the leaf.
        let which = usize::try_from(round % 2).expect("0 or 1");
        let mut child = bin()
            .arg("render")
            .arg(&specs[which])
            .arg("--out")
            .arg(&out)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawns");
        std::thread::sleep(Duration::from_micros(rng.next() % (span * 12 / 10)));
        if child.try_wait().expect("waits").is_some() {
            finished += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        let left = staged(&out);
        cleaned += usize::from(left > 0);
        let o = full(&specs[which]);
        let said = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "round {round} (seed {seed}): {said}");
        repaired += usize::from(said.contains("issued a new certificate under the kept CA"));
        let state = common::tls_consistent(&out.join("secrets/tls"), hosts[which]);
        assert_eq!(state, Ok(()), "round {round} (seed {seed})");
        assert_eq!(
            std::fs::read(out.join("secrets/tls/ca.key")).expect("ca"),
            ca,
            "round {round}: the CA changed"
        );
        assert_eq!(
            std::fs::read(out.join("secrets/pw")).expect("pw"),
            pw,
            "round {round}: the password changed"
        );
        assert_eq!(staged(&out), 0, "round {round}: staged files left");
        let v = bin().arg("verify").arg(&out).output().expect("runs");
        assert!(
            v.status.success(),
            "round {round} (seed {seed}): {}",
            String::from_utf8_lossy(&v.stdout)
        );
        round += 1;
    }
    assert!(
        cleaned + repaired > 0,
        "no kill landed mid-render (files staged or a TLS set half renamed) in {round} rounds (seed {seed}): the kill points miss the render"
    );
    assert!(
        finished < round,
        "every render had finished before its kill (seed {seed}): the kill points come too late"
    );
    let rounds = round;
    eprintln!(
        "crash: {rounds} renders of {services} services killed at random points (seed {seed}, within {} ms): {finished} had finished, {cleaned} left staged files (cleaned), {repaired} left a torn TLS set (re-issued under the kept CA); secrets consistent, CA and password unchanged, verify clean after every round; {:.0} s",
        span / 1000,
        started.elapsed().as_secs_f64()
    );
}
