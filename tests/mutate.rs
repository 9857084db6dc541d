//! Mutational testing of the loader, the validator and the renderers: specs made by mutating every
//! example and e2e spec (lines deleted, duplicated, swapped, re-indented; scalars replaced by
//! hostile tokens; bytes inserted) go through `validate` and, when valid, through every target in
//! memory. Every one must end as valid or as located diagnostics: no panic, no internal error, and
//! each within the time bound.
//!
//! `cargo test` runs 1 500 mutants; `.ci/run` runs 10 000 with the release build
//! (`MISP_GEN_MUTANTS`, `MISP_GEN_MUTATE_SEED`) and prints the figures.

#![expect(clippy::expect_used, reason = "tests fail by panicking")]

mod common;

use std::time::{Duration, Instant};

use common::Rng;
use misp_gen::cli::Target;
use misp_gen::spec::model::Flavor;
use misp_gen::{Error, RenderOptions, SecretSource};

const TOKENS: &[&str] = &[
    "",
    "0",
    "-1",
    "65536",
    "99999999999999999999",
    "0s",
    "2147483648s",
    "1Ki",
    "/",
    "..",
    "${x}",
    "${secrets.",
    "${secrets.nope}",
    "${services.web.port}",
    "$${",
    "&a",
    "*a",
    "*nope",
    "!!binary AAAA",
    "!!int",
    "~",
    "[",
    "{",
    "]",
    "}",
    "\"",
    "'",
    ": ",
    "- ",
    "\t",
    "null",
    "true",
    "no",
    "1e400",
    "0x10",
    ".nan",
    "0755",
    "\"0755\"",
    "héllo",
    "🦀",
    "a\\nb",
    "%",
    "$",
    "compose",
    "systemd",
    "kubernetes",
    "LATEST",
    "docker.io/x:latest",
    "a:b,c",
    "`",
    "#",
    "|",
    ">",
    "? ",
    "<<: *a",
    "---",
    "...",
    "\u{0}",
];

fn mutate(text: &str, rng: &mut Rng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for _ in 0..=rng.below(3) {
        if lines.is_empty() {
            break;
        }
        let i = rng.below(lines.len());
        match rng.below(7) {
            0 => {
                lines.remove(i);
            }
            1 => {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            2 => {
                let j = rng.below(lines.len());
                lines.swap(i, j);
            }
            3 => {
                let l = &mut lines[i];
                if rng.below(2) == 0 {
                    l.insert_str(0, "  ");
                } else if let Some(rest) = l.strip_prefix("  ") {
                    *l = rest.to_owned();
                }
            }
            4 | 5 => {
                // Replace the value after a `: ` (or a list item) by a hostile token.
                let tok = TOKENS[rng.below(TOKENS.len())];
                let l = &mut lines[i];
                if let Some(at) = l.find(": ") {
                    l.truncate(at + 2);
                    l.push_str(tok);
                } else if let Some(at) = l.find("- ") {
                    l.truncate(at + 2);
                    l.push_str(tok);
                } else {
                    l.push_str(tok);
                }
            }
            _ => {
                let l = &mut lines[i];
                let at = rng.below(l.len() + 1);
                if l.is_char_boundary(at) {
                    let tok = TOKENS[rng.below(TOKENS.len())];
                    l.insert_str(at, tok);
                }
            }
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

fn seeds() -> Vec<(String, String)> {
    let repo = common::repo();
    let mut v = Vec::new();
    for dir in ["examples", "tests/e2e"] {
        for e in std::fs::read_dir(repo.join(dir)).expect("dir").flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "yaml") {
                v.push((
                    p.display().to_string(),
                    std::fs::read_to_string(&p).expect("seed"),
                ));
            }
        }
    }
    v.sort();
    v
}

/// Every YAML file and every systemd unit of a render parses back (the built-in templates' output
/// is not re-read at render time: this is where a template that emits broken YAML or a broken
/// unit is caught).
fn parse_back(files: &misp_gen::render::FileSet) -> Result<(), String> {
    for (path, f) in files {
        let ext = std::path::Path::new(path).extension();
        if path.starts_with("systemd/")
            && ext.is_some_and(|e| {
                ["container", "service", "volume", "network", "target"]
                    .iter()
                    .any(|u| e.eq_ignore_ascii_case(u))
            })
        {
            let text = std::str::from_utf8(&f.bytes).map_err(|e| format!("{path}: {e}"))?;
            misp_gen::render::unitfile::check(path, text)?;
        }
        if ext.is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml")) {
            let text = std::str::from_utf8(&f.bytes).map_err(|e| format!("{path}: {e}"))?;
            misp_gen::spec::load::check_syntax(text).map_err(|(pos, m)| {
                format!(
                    "{path} does not parse back as YAML at {}:{}: {m}",
                    pos.line, pos.col
                )
            })?;
        }
    }
    Ok(())
}

// Pins that every example and e2e spec renders, for every profile, target and systemd flavour,
// to YAML and units that parse back.
#[test]
fn every_seed_renders_yaml_that_parses_back() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut checked = 0;
    for (name, text) in seeds() {
        for profile in ["single-node", "ha"] {
            // Some e2e specs are for one profile only.
            let Ok(v) =
                misp_gen::validate::validate_bytes(&name, text.as_bytes(), Some(profile), None)
            else {
                continue;
            };
            for (target, flavor) in [
                (Target::Compose, None),
                (Target::Kubernetes, None),
                (Target::Systemd, Some(Flavor::Quadlet)),
                (Target::Systemd, Some(Flavor::Podman)),
                (Target::Systemd, Some(Flavor::Docker)),
            ] {
                let opts = RenderOptions {
                    target,
                    templates: None,
                    registry_mirror: None,
                    flavor,
                };
                let files = misp_gen::render_files_with(
                    &v,
                    &tmp.path().join("never"),
                    &opts,
                    &|_| None,
                    SecretSource::Placeholders,
                )
                .expect("a seed renders");
                parse_back(&files).unwrap_or_else(|e| panic!("{name} {profile} {target:?}: {e}"));
                checked += files.len();
            }
        }
    }
    assert!(checked > 100, "only {checked} files rendered");
}

// Pins that no mutant of a real spec panics, errs internally, or takes longer than the bound.
#[test]
fn mutants_end_valid_or_located() {
    let count: usize = std::env::var("MISP_GEN_MUTANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let seed: u64 = std::env::var("MISP_GEN_MUTATE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x6d75_7461_7465)
        | 1;
    // A debug build is about ten times slower than what users run.
    let bound = if cfg!(debug_assertions) {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(1)
    };
    let seeds = seeds();
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().expect("tmp");
    let (mut valid, mut invalid, mut worst) = (0usize, 0usize, (Duration::ZERO, String::new()));
    for n in 0..count {
        let (name, text) = &seeds[n % seeds.len()];
        let mutant = mutate(text, &mut rng);
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(|| {
            match misp_gen::validate::validate_bytes(name, mutant.as_bytes(), None, None) {
                Ok(v) => {
                    for target in [Target::Compose, Target::Kubernetes, Target::Systemd] {
                        let opts = RenderOptions {
                            target,
                            templates: None,
                            registry_mirror: None,
                            flavor: None,
                        };
                        match misp_gen::render_files_with(
                            &v,
                            &tmp.path().join("never"),
                            &opts,
                            &|_| None,
                            SecretSource::Placeholders,
                        ) {
                            Ok(files) => {
                                parse_back(&files)
                                    .map_err(|e| format!("render {target:?}: {e}"))?;
                            }
                            Err(Error::Invalid(_)) => {}
                            Err(e) => return Err(format!("render {target:?}: {e}")),
                        }
                    }
                    Ok(true)
                }
                Err(Error::Invalid(inv)) => {
                    if inv.diags.is_empty() {
                        return Err("invalid without a diagnostic".into());
                    }
                    Ok(false)
                }
                Err(e) => Err(format!("validate: {e}")),
            }
        });
        let took = started.elapsed();
        match outcome {
            Ok(Ok(true)) => valid += 1,
            Ok(Ok(false)) => invalid += 1,
            Ok(Err(e)) => panic!("mutant {n} of {name} (seed {seed}): {e}\n{mutant}"),
            Err(payload) => {
                let why = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                panic!("mutant {n} of {name} (seed {seed}) panicked ({why}):\n{mutant}")
            }
        }
        if took > worst.0 {
            worst = (took, format!("mutant {n} of {name}"));
        }
        assert!(
            took < bound,
            "mutant {n} of {name} (seed {seed}) took {took:?}:\n{mutant}"
        );
    }
    eprintln!(
        "mutate: {count} mutants of {} specs (seed {seed}): {valid} valid and rendered, {invalid} refused with located diagnostics, no panic or internal error; slowest {:?} ({})",
        seeds.len(),
        worst.0,
        worst.1
    );
}

// Pins that what `validate` refuses (decided on the deployment model, nothing rendered) is
// exactly what the renderers refuse, target by target and flavour by flavour, on mutants of the
// real specs: the same diagnostics, none missing, none extra.
#[test]
fn validate_refuses_exactly_what_the_renderers_refuse() {
    use misp_gen::spec::model::Flavor;
    let count: usize = std::env::var("MISP_GEN_MUTANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let seed: u64 = std::env::var("MISP_GEN_MUTATE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x7265_6675_7365)
        | 1;
    let seeds = seeds();
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().expect("tmp");
    let (mut compared, mut refused) = (0usize, 0usize);
    for n in 0..count {
        let (name, text) = &seeds[n % seeds.len()];
        let mutant = mutate(text, &mut rng);
        let Ok(v) = misp_gen::validate::validate_bytes(name, mutant.as_bytes(), None, None) else {
            continue;
        };
        compared += 1;
        let mut rendered: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        for (target, flavor) in [
            (Target::Compose, None),
            (Target::Kubernetes, None),
            (Target::Systemd, Some(Flavor::Quadlet)),
            (Target::Systemd, Some(Flavor::Podman)),
            (Target::Systemd, Some(Flavor::Docker)),
        ] {
            let opts = RenderOptions {
                target,
                templates: None,
                registry_mirror: None,
                flavor,
            };
            match misp_gen::render_files_with(
                &v,
                &tmp.path().join("never"),
                &opts,
                &|_| None,
                SecretSource::Placeholders,
            ) {
                Ok(_) => {}
                Err(Error::Invalid(inv)) => {
                    rendered.extend(inv.diags.iter().map(|d| format!("{d:?}")));
                }
                Err(e) => panic!("mutant {n} of {name}: render {target:?}: {e}\n{mutant}"),
            }
        }
        let planned: std::collections::BTreeSet<String> =
            match misp_gen::pipeline::check_renderable(&v) {
                Ok(()) => std::collections::BTreeSet::new(),
                Err(Error::Invalid(inv)) => inv.diags.iter().map(|d| format!("{d:?}")).collect(),
                Err(e) => panic!("mutant {n} of {name}: check: {e}\n{mutant}"),
            };
        if !planned.is_empty() {
            refused += 1;
        }
        assert_eq!(
            planned, rendered,
            "mutant {n} of {name} (seed {seed}): validate's refusals (left) differ from the renderers' (right)\n{mutant}"
        );
    }
    eprintln!(
        "refusals: {compared} valid mutants compared (seed {seed}), {refused} refused by some target; validate and the renderers agreed on every one"
    );
    assert!(compared > count / 10, "only {compared} mutants were valid");
}

/// A spec built from parts chosen at random, each chosen to provoke what one target refuses at
/// render time: long or colliding names, a named user, a secret with a line break, a healthy
/// wait on a service without a port, capabilities, host ports and Pod Security levels, volume
/// driver options, podman versions, mount paths with `,`.
#[expect(
    clippy::too_many_lines,
    reason = "one choice after the other, each a line or two"
)]
fn provoking_spec(rng: &mut Rng) -> String {
    use std::fmt::Write as _;
    let pick = |rng: &mut Rng, list: &[&'static str]| list[rng.below(list.len())];
    let name = pick(
        rng,
        &[
            "demo",
            "a-rather-long-deployment-name-for-kubernetes-obj",
            "x",
        ],
    );
    let mut s = format!("apiVersion: misp-gen/v1\nname: {name}\nprofile: single-node\n");
    s.push_str(pick(
        rng,
        &[
            "params: { p: \"plain\" }\n",
            "params: { p: \"two\\nlines\" }\n",
        ],
    ));
    s.push_str("secrets:\n  pw: { generate: password, length: 16 }\n  tls: { generate: tls, hosts: [web] }\n");
    s.push_str("files:\n  conf: { content: \"a=${secrets.pw}\" }\n  plain: { content: \"x\" }\n");
    let opts = pick(
        rng,
        &[
            "",
            "    driver_opts: { type: nfs, o: \"addr=10.0.0.1\" }\n",
            "    driver_opts: { type: nfs, device: \":/x\" }\n",
            "    driver_opts: { foo: bar }\n",
            "    driver_opts: { o: \"a\\nb\" }\n",
        ],
    );
    let _ = write!(
        s,
        "volumes:\n  data:\n    size: 1Gi\n{opts}  data_2: {{ size: 1Gi }}\n"
    );
    if rng.below(2) == 0 {
        s.push_str("database: { engine: mariadb, version: \"10.11\", name: app, user: app, password: pw, volume: data_2 }\n");
    }
    s.push_str("services:\n");
    let services = [
        pick(
            rng,
            &[
                "web",
                "data-2",
                "a-service-name-that-is-quite-long-indeed-for-k8s",
            ],
        ),
        pick(
            rng,
            &["worker", "web-env", "network", "data-volume", "file-conf"],
        ),
    ];
    for (i, svc) in services.iter().enumerate() {
        if i == 1 && services[0] == *svc {
            continue;
        }
        let _ = write!(s, "  {svc}:\n    image: docker.io/library/nginx:1.27.3\n");
        s.push_str(pick(
            rng,
            &[
                "",
                "    user: \"33:33\"\n",
                "    user: www-data\n",
                "    user: \"0\"\n",
            ],
        ));
        match rng.below(3) {
            0 => {}
            1 => s.push_str("    ports: [{ name: http, port: 80 }]\n"),
            _ => {
                let _ = writeln!(
                    s,
                    "    ports: [{{ name: http, port: 80, publish: {} }}]",
                    30080 + i
                );
            }
        }
        s.push_str(pick(
            rng,
            &[
                "",
                "    env: { A: \"x\\n${secrets.pw}\" }\n",
                "    env: { A: \"${secrets.pw}\", B: \"u:${secrets.pw}\" }\n",
                "    env: { A: \"${params.p}\", B: \"${secrets.pw}${params.p}\" }\n",
            ],
        ));
        s.push_str(pick(
            rng,
            &[
                "",
                "    mounts: [{ volume: data, path: /srv/data }]\n",
                "    mounts: [{ volume: data, path: \"/srv/a,b\" }]\n",
                "    mounts: [{ file: conf, path: /etc/conf }, { file: plain, path: /etc/plain }]\n",
                "    mounts: [{ secret: tls, path: /etc/tls, items: { tls.crt: \"a,b\" } }]\n",
                "    mounts: [{ secret: pw, path: /run/secrets }]\n",
            ],
        ));
        s.push_str(pick(
            rng,
            &[
                "",
                "    security: { cap_add: [SYS_ADMIN], accept: { capabilities: needed } }\n",
                "    security: { cap_add: [CHOWN] }\n",
                "    command: [\"sh\", \"-c\", \"echo ${database.host} ${params.p}\"]\n",
            ],
        ));
        if i == 0 {
            let cond = pick(rng, &["", "healthy", "started", "completed"]);
            if !cond.is_empty() && services[1] != services[0] {
                let _ = writeln!(s, "    depends_on: {{ {}: {cond} }}", services[1]);
            }
        } else {
            s.push_str(pick(
                rng,
                &[
                    "",
                    "    healthcheck: { exec: [\"true\"] }\n",
                    "    scaling: singleton\n",
                ],
            ));
        }
    }
    s.push_str("targets:\n  kubernetes:\n");
    s.push_str(pick(
        rng,
        &[
            "    publish: host-port\n",
            "    publish: load-balancer\n",
            "    publish: node-port\n",
        ],
    ));
    s.push_str(pick(
        rng,
        &[
            "",
            "    pod_security: baseline\n",
            "    pod_security: restricted\n",
            "    waits: none\n",
        ],
    ));
    s.push_str("  systemd:\n");
    s.push_str(pick(
        rng,
        &[
            "    podman_version: \"4.3\"\n",
            "    podman_version: \"4.5\"\n",
            "    podman_version: \"5.4\"\n",
        ],
    ));
    s
}

// Pins the same agreement on specs built to provoke every render-time refusal: validate and the
// renderers refuse the same things, and each kind of refusal is met.
#[test]
fn validate_refuses_what_the_renderers_refuse_on_provoking_specs() {
    use misp_gen::spec::model::Flavor;
    let count: usize = std::env::var("MISP_GEN_PROVOKE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let mut rng = Rng(0x0070_726f_766f_6b65 | 1);
    let tmp = tempfile::tempdir().expect("tmp");
    let (mut compared, mut refused) = (0usize, 0usize);
    let mut kinds: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for n in 0..count {
        let spec = provoking_spec(&mut rng);
        let v = match misp_gen::validate::validate_bytes("p.yaml", spec.as_bytes(), None, None) {
            Ok(v) => v,
            Err(Error::Invalid(inv)) => {
                if std::env::var_os("MISP_GEN_PROVOKE_SHOW").is_some() {
                    for d in inv.diags.iter().take(2) {
                        eprintln!("invalid: {}", d.message);
                    }
                }
                continue;
            }
            Err(e) => panic!("spec {n}: validate: {e}\n{spec}"),
        };
        compared += 1;
        let mut rendered = std::collections::BTreeSet::new();
        for (target, flavor) in [
            (Target::Compose, None),
            (Target::Kubernetes, None),
            (Target::Systemd, Some(Flavor::Quadlet)),
            (Target::Systemd, Some(Flavor::Podman)),
            (Target::Systemd, Some(Flavor::Docker)),
        ] {
            let opts = RenderOptions {
                target,
                templates: None,
                registry_mirror: None,
                flavor,
            };
            match misp_gen::render_files_with(
                &v,
                &tmp.path().join("never"),
                &opts,
                &|_| None,
                SecretSource::Placeholders,
            ) {
                Ok(files) => parse_back(&files)
                    .unwrap_or_else(|e| panic!("spec {n}: render {target:?}: {e}\n{spec}")),
                Err(Error::Invalid(inv)) => {
                    rendered.extend(inv.diags.iter().map(|d| format!("{d:?}")));
                }
                Err(e) => panic!("spec {n}: render {target:?}: {e}\n{spec}"),
            }
        }
        let planned: std::collections::BTreeSet<String> =
            match misp_gen::pipeline::check_renderable(&v) {
                Ok(()) => std::collections::BTreeSet::new(),
                Err(Error::Invalid(inv)) => {
                    for d in &inv.diags {
                        *kinds.entry(d.code.as_str().to_owned()).or_default() += 1;
                    }
                    inv.diags.iter().map(|d| format!("{d:?}")).collect()
                }
                Err(e) => panic!("spec {n}: check: {e}\n{spec}"),
            };
        if !planned.is_empty() {
            refused += 1;
        }
        assert_eq!(
            planned, rendered,
            "spec {n}: validate's refusals (left) differ from the renderers' (right)\n{spec}"
        );
    }
    eprintln!(
        "refusals (provoking): {compared} valid specs of {count}, {refused} refused at render time, by code: {kinds:?}; validate and the renderers agreed on every one"
    );
    assert!(compared > count / 4, "only {compared} specs were valid");
    for code in ["E300", "E501", "E500"] {
        assert!(
            kinds.keys().any(|k| k.starts_with(code)),
            "no spec was refused with {code}: {kinds:?}"
        );
    }
}
