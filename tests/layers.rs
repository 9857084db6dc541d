//! The module graph runs one way, down the pipeline: spec → validate → plan → render → output.
//! Every `crate::…` path in `src/` is read as text and checked against the layer order below; a
//! module may use the modules before it, never one after it. The renderers of the three targets
//! do not use each other either: what two of them share lives in a module below them.

#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "a test: a file it cannot read is a failure"
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Bottom first. A module may name only itself and modules of a lower layer: not one of its own
/// layer (so `render` and `output` cannot use each other, nor `bundle` the crate root).
const LAYERS: &[&[&str]] = &[
    // foundations: no knowledge of the pipeline
    &["diag"],
    &["host"],
    &["error", "units", "image", "placeholder"],
    &["spec"],
    &["shell", "pki"],
    &["profile"],
    // what the spec means, asked by every stage below
    &["domain"],
    &["hardening"],
    // the deployment model, built once from the spec and the profile; the questions the
    // validator asks of it; the validator, which builds it
    &["plan"],
    &["security"],
    &["validate"],
    &["secrets"],
    &["fileset", "state"],
    &["render"],
    &["output"],
    // commands: their command-line definitions, the pipeline they run, and the crate root that
    // dispatches them
    &["cli"],
    &["pipeline", "docs"],
    &["bundle", "init", "import"],
    &["lib", "main"],
];

/// The renderers of the targets: none may use another.
const TARGETS: &[&str] = &["compose", "kubernetes", "systemd"];

fn rank(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|l| l.contains(&module))
        .unwrap_or_else(|| panic!("module `{module}` is not in tests/layers.rs's LAYERS"))
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("src is readable") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `src/render/kubernetes/pod.rs` → ("render", Some("kubernetes")).
fn module_of(src: &Path, file: &Path) -> (String, Option<String>) {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts = rel.iter().map(|p| p.to_string_lossy().into_owned());
    let first = parts.next().expect("a path");
    let second = parts.next();
    let top = first.trim_end_matches(".rs").to_owned();
    let sub = second.map(|s| s.trim_end_matches(".rs").to_owned());
    (top, sub)
}

/// Every `crate::a::b` in `text`, outside comments, as (a, b).
fn crate_paths(text: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let before = rest[..i].chars().last();
            rest = &rest[i + "crate::".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // `misp_gen_crate::`, not ours
            }
            let ident = |s: &str| -> String {
                s.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect()
            };
            let a = ident(rest);
            let after = &rest[a.len()..];
            let b = after
                .strip_prefix("::")
                .map(ident)
                .filter(|b| !b.is_empty());
            if a.is_empty() {
                // `crate::{a, b}`: every name of the group
                if let Some(group) = rest.strip_prefix('{') {
                    for name in group.split(['}', ',']).map(str::trim) {
                        let n = ident(name);
                        if !n.is_empty() {
                            out.push((n, None));
                        }
                    }
                }
                continue;
            }
            out.push((a, b));
        }
    }
    out
}

fn edges() -> BTreeSet<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut edges = BTreeSet::new();
    for f in &files {
        let (from, from_sub) = module_of(&src, f);
        let text = std::fs::read_to_string(f).expect("readable");
        for (to, to_sub) in crate_paths(&text) {
            // Error and the crate root's re-exports (`crate::Error`) are the error module.
            let to = match to.as_str() {
                "Error" => "error".to_owned(),
                "RenderOptions" | "SecretSource" | "render_files" | "render_files_with"
                | "render_to_dir" => "lib".to_owned(),
                _ => to,
            };
            let label_from = match &from_sub {
                Some(s) if from == "render" && TARGETS.contains(&s.as_str()) => {
                    format!("render::{s}")
                }
                _ => from.clone(),
            };
            let label_to = match &to_sub {
                Some(s) if to == "render" && TARGETS.contains(&s.as_str()) => {
                    format!("render::{s}")
                }
                _ => to.clone(),
            };
            if label_from != label_to {
                edges.insert((label_from, label_to));
            }
        }
    }
    edges
}

fn top(label: &str) -> &str {
    label.split("::").next().unwrap_or(label)
}

#[test]
fn imports_run_down_the_pipeline() {
    let edges = edges();
    let mut wrong = Vec::new();
    for (from, to) in &edges {
        let (a, b) = (top(from), top(to));
        if a == b {
            // Inside one module: the three targets' renderers may not use each other.
            if from.contains("::") && to.contains("::") {
                wrong.push(format!(
                    "{from} → {to} (one target's renderer uses another's)"
                ));
            }
            continue;
        }
        if rank(b) > rank(a) {
            wrong.push(format!("{from} → {to} (against the pipeline)"));
        } else if rank(b) == rank(a) {
            wrong.push(format!("{from} → {to} (within one layer)"));
        }
    }
    // The graph itself, for the reader of a failure (and of `--nocapture`).
    for (from, to) in &edges {
        println!("{from} -> {to}");
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

// The check reads what it should: a back-edge and a target-to-target edge are caught.
#[test]
fn the_reader_finds_paths() {
    let found = crate_paths(
        "use crate::validate::{Valid, rules};\nlet x = crate::render::compose::sh_quote(s); // crate::output\nuse crate::{diag, plan};",
    );
    assert_eq!(
        found,
        vec![
            ("validate".to_owned(), None),
            ("render".to_owned(), Some("compose".to_owned())),
            ("diag".to_owned(), None),
            ("plan".to_owned(), None),
        ]
    );
    assert!(rank("output") > rank("render") && rank("validate") > rank("plan"));
}

/// The renderers read only the deployment model (`plan::Deployment`), never the validated spec:
/// no path into `validate`, and none of the spec's top-level types. Leaf value types of the spec
/// model (`Port`, `Flavor`, `Pull`, …) are values the model carries and stay allowed.
const SPEC_TOP_LEVEL: &[&str] = &["Spec", "Service", "Database", "Valid", "Document"];

/// What in `text` (a renderer's source) reaches past the model: `crate::validate` paths and the
/// spec's top-level types, by line.
fn render_reaches_past_the_model(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        // String literals are output text ("Service" is a Kubernetes kind), not types.
        let mut bare = String::new();
        let mut in_str = false;
        let mut prev = ' ';
        for c in code.chars() {
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            } else if !in_str {
                bare.push(c);
            }
            prev = c;
        }
        if crate_paths(&bare).iter().any(|(a, _)| a == "validate") {
            found.push(format!("line {}: crate::validate", i + 1));
        }
        for word in bare.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            if SPEC_TOP_LEVEL.contains(&word) {
                found.push(format!("line {}: {word}", i + 1));
            }
        }
    }
    found
}

#[test]
fn renderers_read_only_the_model() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/render");
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(files.len() > 20, "the renderers' sources were found");
    let mut wrong = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("readable");
        for w in render_reaches_past_the_model(&text) {
            wrong.push(format!("{}: {w}", f.display()));
        }
    }
    assert!(
        wrong.is_empty(),
        "renderers reach past the deployment model:\n{}",
        wrong.join("\n")
    );
}

// The check catches what it is for: a planted import of the validated spec, a spec type in a
// signature; and leaves a Kubernetes kind in a string alone.
#[test]
fn a_planted_reach_past_the_model_is_caught() {
    let planted = "use crate::validate::Valid;\nfn f(s: &crate::spec::model::Spec) {}\nlet k = \"Service\"; // Spec in a comment\nuse crate::validate::{rules};";
    assert_eq!(
        render_reaches_past_the_model(planted),
        vec![
            "line 1: crate::validate".to_owned(),
            "line 1: Valid".to_owned(),
            "line 2: Spec".to_owned(),
            "line 4: crate::validate".to_owned(),
        ]
    );
    assert!(
        render_reaches_past_the_model("let kind = \"Service\";\nuse crate::plan::Deployment;")
            .is_empty()
    );
}
