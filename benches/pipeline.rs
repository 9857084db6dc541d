//! `cargo bench`: how long validation and rendering take, against the time it takes to copy the
//! output (the floor for any tool that writes these files), and how it scales with services.
//!
//! Prints a table of medians; no external harness so it runs anywhere `cargo` does. The first
//! line is the whole process as users run it (the release binary re-rendering the MISP example),
//! with its goal.

#![allow(clippy::expect_used, reason = "a benchmark stops at the first failure")]

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use misp_gen::cli::Target;
use misp_gen::{RenderOptions, output, validate};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    let mut v = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        black_box(f());
        v.push(t.elapsed());
    }
    median(v)
}

fn ms(d: Duration) -> String {
    format!("{:8.3} ms", d.as_secs_f64() * 1000.0)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        let dst = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).expect("copy");
        }
    }
}

/// A spec with `n` services in the shape of the MISP web service.
fn synthetic(n: usize) -> String {
    let mut s = String::from(
        "apiVersion: misp-gen/v1\nname: big\nparams: { fqdn: big.example.org }\nsecrets:\n  pw: { generate: password }\n  tls: { generate: tls, hosts: [\"${params.fqdn}\"] }\nvolumes:\n  data: { size: 1Gi, shared: true }\nservices:\n",
    );
    for i in 0..n {
        let _ = write!(
            s,
            "  svc{i}:\n    image: docker.io/library/nginx:1.27.3\n    env: {{ FQDN: \"${{params.fqdn}}\", PW: \"${{secrets.pw}}\", NEXT: \"${{services.svc{}.host}}\" }}\n    ports: [{{ name: http, port: 80 }}, {{ name: https, port: 443 }}]\n    mounts: [{{ volume: data, path: /data }}, {{ secret: tls, path: /certs }}, {{ scratch: true, path: /tmp }}]\n    healthcheck: {{ http: {{ path: /, port: http }}, interval: 30s }}\n    resources: {{ cpu: \"0.5\", memory: 256Mi }}\n",
            (i + 1) % n
        );
    }
    s
}

/// What a user waits for: the whole `misp-gen render examples/misp.yaml --target all --out DIR`
/// process (start, validation, render, the comparison with what `DIR` holds, exit), re-rendering
/// into a `DIR` that already holds its output, so nothing is written. Median of `runs`.
fn whole_process_rerender(tmp: &Path, runs: usize) -> Duration {
    let bin = env!("CARGO_BIN_EXE_misp-gen");
    let out = tmp.join("whole-process");
    let render = || {
        let status = std::process::Command::new(bin)
            .args(["render", "examples/misp.yaml", "--target", "all", "--out"])
            .arg(&out)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("runs misp-gen");
        assert!(status.success(), "misp-gen render failed");
    };
    // The first render writes DIR (secrets and certificates included); a few more warm the caches.
    for _ in 0..5 {
        render();
    }
    time(runs, render)
}

/// The whole-process re-render time of the MISP example must stay within this.
const RERENDER_GOAL: Duration = Duration::from_millis(10);

#[expect(clippy::too_many_lines, reason = "the benches one after another")]
fn main() {
    let target = Target::All;
    let opts = RenderOptions {
        allow_state_change: Vec::new(),
        target,
        templates: None,
        registry_mirror: None,
        flavor: None,
    };
    let env = |_: &str| None;
    let misp =
        std::fs::read("examples/misp.yaml").expect("examples/misp.yaml (run from the crate root)");

    let tmp = tempfile::tempdir().expect("tmp");
    let whole = whole_process_rerender(tmp.path(), 200);
    println!(
        "{:<52} {}   goal <= {} ms: {}",
        "misp-gen render misp, all targets (re-render)",
        ms(whole),
        RERENDER_GOAL.as_millis(),
        if whole <= RERENDER_GOAL {
            "met"
        } else {
            "MISSED"
        }
    );

    // Warm-up: the schema compiles once per process.
    let cold = Instant::now();
    let _ = validate::validate_bytes("misp.yaml", &misp, Some("single-node"), None);
    let cold = cold.elapsed();
    println!(
        "{:<52} {}",
        "validate misp (first call, schema compile)",
        ms(cold)
    );
    for profile in ["single-node", "ha"] {
        let d = time(200, || {
            validate::validate_bytes("misp.yaml", &misp, Some(profile), None).is_ok()
        });
        println!("{:<52} {}", format!("validate misp ({profile})"), ms(d));
    }

    let bomb = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
    let d = time(20, || {
        validate::validate_bytes("bomb.yaml", bomb.as_bytes(), None, None).is_err()
    });
    println!("{:<52} {}", "billion laughs rejected", ms(d));

    for profile in ["single-node", "ha"] {
        let valid =
            validate::validate_bytes("misp.yaml", &misp, Some(profile), None).expect("valid");
        let out = tmp.path().join(format!("misp-{profile}"));
        let files = misp_gen::render_files(&valid, &out, &opts, &env).expect("renders");
        output::write(
            &out,
            &files,
            &output::lock_exclusive(&out, output::LOCK_WAIT).expect("locks"),
        )
        .expect("writes");
        let d = time(100, || {
            misp_gen::render_files(&valid, &out, &opts, &env).expect("renders")
        });
        println!(
            "{:<52} {}",
            format!("render misp {profile}, all targets, in memory"),
            ms(d)
        );
        let mut n = 0;
        let fresh = time(30, || {
            n += 1;
            let dir = tmp.path().join(format!("fresh-{profile}-{n}"));
            let valid =
                validate::validate_bytes("misp.yaml", &misp, Some(profile), None).expect("valid");
            // Same secrets as `out`, so nothing is generated: what a re-render into a new directory costs.
            copy_tree(&out.join("secrets"), &dir.join("secrets"));
            let files = misp_gen::render_files(&valid, &dir, &opts, &env).expect("renders");
            output::write(
                &dir,
                &files,
                &output::lock_exclusive(&dir, output::LOCK_WAIT).expect("locks"),
            )
            .expect("writes")
        });
        let mut m = 0;
        let copy = time(30, || {
            m += 1;
            copy_tree(&out, &tmp.path().join(format!("copy-{profile}-{m}")));
        });
        println!(
            "{:<52} {}",
            format!("validate+render+write misp {profile} (new dir)"),
            ms(fresh)
        );
        println!(
            "{:<52} {}   ratio {:.2}",
            format!("copy of that output (cp -r)"),
            ms(copy),
            fresh.as_secs_f64() / copy.as_secs_f64()
        );
    }

    for n in [10, 100, 1000] {
        let spec = synthetic(n);
        let valid =
            validate::validate_bytes("big.yaml", spec.as_bytes(), Some("single-node"), None)
                .expect("valid synthetic spec");
        let out = tmp.path().join(format!("big-{n}"));
        let files = misp_gen::render_files(&valid, &out, &opts, &env).expect("renders");
        output::write(
            &out,
            &files,
            &output::lock_exclusive(&out, output::LOCK_WAIT).expect("locks"),
        )
        .expect("writes");
        let runs = if n >= 1000 { 5 } else { 20 };
        let v = time(runs, || {
            validate::validate_bytes("big.yaml", spec.as_bytes(), Some("single-node"), None).is_ok()
        });
        let r = time(runs, || {
            misp_gen::render_files(&valid, &out, &opts, &env).expect("renders")
        });
        println!(
            "{:<52} {}   render {}   ({} files)",
            format!("{n} services: validate"),
            ms(v),
            ms(r),
            files.len()
        );
        if n >= 1000 {
            // Each target alone (all targets render on a thread each, so `all` is about the
            // slowest of them where cores are free), against the goal for all of them.
            for t in [Target::Compose, Target::Kubernetes, Target::Systemd] {
                let one = RenderOptions {
                    allow_state_change: Vec::new(),
                    target: t,
                    ..opts.clone()
                };
                let d = time(runs, || {
                    misp_gen::render_files(&valid, &out, &one, &env).expect("renders")
                });
                println!(
                    "{:<52} {}",
                    format!("{n} services: render {t:?} only"),
                    ms(d)
                );
            }
            println!(
                "{:<52} {}   (goal: 150 ms or less, all targets, in memory)",
                format!("{n} services: render all targets"),
                ms(r)
            );
        }
    }
}
