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

use std::collections::BTreeMap;
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

/// Every target and systemd flavour, with the options that render it.
fn every_target() -> Vec<(Target, Option<Flavor>, RenderOptions)> {
    [
        (Target::Compose, None),
        (Target::Kubernetes, None),
        (Target::Systemd, Some(Flavor::Quadlet)),
        (Target::Systemd, Some(Flavor::Podman)),
        (Target::Systemd, Some(Flavor::Docker)),
    ]
    .into_iter()
    .map(|(target, flavor)| {
        (
            target,
            flavor,
            RenderOptions {
                allow_state_change: Vec::new(),
                target,
                templates: None,
                registry_mirror: None,
                flavor,
            },
        )
    })
    .collect()
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
            for (target, _, opts) in every_target() {
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
                            allow_state_change: Vec::new(),
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

/// What the output of a render must hold whatever the spec, checked on the files themselves
/// (not by the code that decides refusals): Kubernetes object and generator names are DNS-1123
/// labels that fit where they go and are unique per kind, Services' start with a letter; Quadlet
/// makes one container unit per instance and no two units become the same service; every env
/// file line is one `KEY=value`.
fn output_holds(
    v: &misp_gen::validate::Valid,
    files: &misp_gen::render::FileSet,
) -> Result<(), String> {
    use misp_gen::domain::is_dns_label;
    let mut seen = std::collections::BTreeSet::new();
    let mut services = std::collections::BTreeSet::new();
    let mut containers = 0u32;
    for (path, f) in files {
        let text = std::str::from_utf8(&f.bytes).map_err(|e| format!("{path}: {e}"))?;
        let ext = std::path::Path::new(path)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default();
        if path.starts_with("kubernetes/") && ext == "yaml" {
            let doc = misp_gen::spec::load::load(path, text.as_bytes())
                .map_err(|d| format!("{path}: {}", d.message))?
                .value;
            let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
            let mut names: Vec<(String, String, usize)> = Vec::new();
            if let Some(n) = doc["metadata"]["name"].as_str() {
                let max = if kind == "StatefulSet" { 52 } else { 63 };
                names.push((kind.clone(), n.to_owned(), max));
            }
            for (g, k) in [
                ("secretGenerator", "Secret"),
                ("configMapGenerator", "ConfigMap"),
            ] {
                for e in doc[g].as_array().into_iter().flatten() {
                    if let Some(n) = e["name"].as_str() {
                        names.push((k.to_owned(), n.to_owned(), 52));
                    }
                }
            }
            for (kind, n, max) in names {
                if !is_dns_label(&n) || n.len() > max {
                    return Err(format!(
                        "{path}: {kind} name `{n}` is not a DNS-1123 label of at most {max}"
                    ));
                }
                if kind == "Service" && !n.starts_with(|c: char| c.is_ascii_lowercase()) {
                    return Err(format!(
                        "{path}: Service name `{n}` does not start with a letter"
                    ));
                }
                if kind != "Kustomization" && !seen.insert((kind.clone(), n.clone())) {
                    return Err(format!("{path}: two {kind} objects are named `{n}`"));
                }
            }
        }
        if path.starts_with("systemd/") {
            let base = path.trim_start_matches("systemd/");
            let service = match base.rsplit_once('.') {
                Some((b, "container")) => {
                    containers += 1;
                    Some(format!("{b}.service"))
                }
                Some((b, "volume")) => Some(format!("{b}-volume.service")),
                Some((b, "network")) => Some(format!("{b}-network.service")),
                _ => None,
            };
            if let Some(sv) = service
                && !services.insert(sv.clone())
            {
                return Err(format!("{path}: a second unit becomes {sv}"));
            }
        }
        if ext == "env" {
            for line in text.lines() {
                let key = line.split_once('=').map(|(k, _)| k).unwrap_or_default();
                // The spec's env names: no leading digit; letters, digits, `_`, `.` and `-`.
                if key.is_empty()
                    || key.starts_with(|c: char| c.is_ascii_digit())
                    || !key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
                {
                    return Err(format!("{path}: a line that is not one KEY=value"));
                }
            }
        }
    }
    let instances: u32 = v.deployment.workloads.iter().map(|c| c.replicas).sum();
    if containers > 0 && containers != instances {
        return Err(format!(
            "quadlet: {containers} container units for {instances} instances"
        ));
    }
    Ok(())
}

/// Validate's verdict on `v` (decided on the deployment model, nothing rendered), held against
/// every target and flavour: a spec it accepts renders everywhere, parses back and holds
/// [`output_holds`]; a spec it refuses is refused by the render of some target too. Returns
/// the refusals' codes.
fn verdict_holds(
    v: &misp_gen::validate::Valid,
    dir: &std::path::Path,
) -> Result<Vec<String>, String> {
    let planned = match misp_gen::pipeline::check_renderable(v) {
        Ok(()) => Vec::new(),
        Err(Error::Invalid(inv)) => inv.diags,
        Err(e) => return Err(format!("check: {e}")),
    };
    let mut refused_by_render = false;
    for (target, flavor, opts) in every_target() {
        match misp_gen::render_files_with(v, dir, &opts, &|_| None, SecretSource::Placeholders) {
            Ok(files) => {
                parse_back(&files).map_err(|e| format!("render {target:?} {flavor:?}: {e}"))?;
                output_holds(v, &files)
                    .map_err(|e| format!("render {target:?} {flavor:?}: {e}"))?;
            }
            Err(Error::Invalid(inv)) => {
                if planned.is_empty() {
                    return Err(format!(
                        "validate accepts it, render {target:?} {flavor:?} refuses: {}",
                        inv.diags[0].message
                    ));
                }
                if let Some(d) = inv.diags.iter().find(|d| !planned.contains(d)) {
                    return Err(format!(
                        "render {target:?} {flavor:?} refuses what validate does not: {}",
                        d.message
                    ));
                }
                refused_by_render = true;
            }
            Err(e) => return Err(format!("render {target:?} {flavor:?}: {e}")),
        }
    }
    if !planned.is_empty() && !refused_by_render {
        return Err(format!(
            "validate refuses it ({}), every target renders it",
            planned[0].message
        ));
    }
    if let Some(d) = planned.iter().find(|d| d.pos.line == 0) {
        return Err(format!("a refusal without a position: {}", d.message));
    }
    Ok(planned.iter().map(|d| d.code.as_str().to_owned()).collect())
}

// Pins that validate's verdict holds on mutants of the real specs: what it accepts renders on
// every target and flavour into output that holds; what it refuses, render refuses.
#[test]
fn validate_verdict_holds_on_mutants() {
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
        match verdict_holds(&v, &tmp.path().join("never")) {
            Ok(codes) => refused += usize::from(!codes.is_empty()),
            Err(e) => panic!("mutant {n} of {name} (seed {seed}): {e}\n{mutant}"),
        }
    }
    eprintln!(
        "verdict (mutants): {compared} valid mutants (seed {seed}), {refused} refused at render time; every verdict held"
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
    // A part that can be left out is left out three times in four, so that some specs render.
    let pick = |rng: &mut Rng, list: &[&'static str]| {
        if list[0].is_empty() && rng.below(4) < 3 {
            ""
        } else {
            list[rng.below(list.len())]
        }
    };
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
        match rng.below(4) {
            0 => {}
            1 | 2 => s.push_str("    ports: [{ name: http, port: 80 }]\n"),
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
                "    security: { capabilities: [SYS_ADMIN], accept: { capabilities: needed } }\n",
                "    security: { capabilities: [CHOWN] }\n",
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

// Pins that validate's verdict holds on specs built to provoke every render-time refusal, and
// that each kind of refusal is met.
#[test]
fn validate_verdict_holds_on_provoking_specs() {
    let count: usize = std::env::var("MISP_GEN_PROVOKE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let mut rng = Rng(0x0070_726f_766f_6b65 | 1);
    let tmp = tempfile::tempdir().expect("tmp");
    let (mut compared, mut refused) = (0usize, 0usize);
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for n in 0..count {
        let spec = provoking_spec(&mut rng);
        let v = match misp_gen::validate::validate_bytes("p.yaml", spec.as_bytes(), None, None) {
            Ok(v) => v,
            Err(Error::Invalid(_)) => continue,
            Err(e) => panic!("spec {n}: validate: {e}\n{spec}"),
        };
        compared += 1;
        match verdict_holds(&v, &tmp.path().join("never")) {
            Ok(codes) => {
                refused += usize::from(!codes.is_empty());
                for c in codes {
                    *kinds.entry(c).or_default() += 1;
                }
            }
            Err(e) => panic!("spec {n}: {e}\n{spec}"),
        }
    }
    eprintln!(
        "verdict (provoking): {compared} valid specs of {count}, {refused} refused at render time, by code: {kinds:?}; every verdict held"
    );
    assert!(compared > count / 4, "only {compared} specs were valid");
    assert!(refused < compared, "every spec was refused: none rendered");
    for code in ["E300", "E500", "E501"] {
        assert!(
            kinds.keys().any(|k| k.starts_with(code)),
            "no spec was refused with {code}: {kinds:?}"
        );
    }
}
