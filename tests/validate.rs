//! Validation: the catalogue of invalid specs (one defect each, at a known position), the valid
//! fixtures, the examples, and the error-code list.

use std::path::{Path, PathBuf};

use misp_gen::diag::{self, Code, Format};
use misp_gen::validate::{self, Invalid};

#[expect(clippy::expect_used, reason = "a test helper")]
fn fixture_dirs(kind: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(Path::new("tests/fixtures").join(kind))
        .expect("fixtures directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

/// The `--profile` argument a case asks for in its `args` file.
fn profile_arg(dir: &Path) -> Option<String> {
    let args = std::fs::read_to_string(dir.join("args")).ok()?;
    let words: Vec<&str> = args.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[0] == "--profile")
        .map(|w| w[1].to_owned())
}

fn validate_case(dir: &Path) -> Result<validate::Valid, misp_gen::Error> {
    let spec = dir.join("spec.yaml");
    validate::validate_file(&spec, profile_arg(dir).as_deref())
}

// Pins every catalogue case: exit-1 class error, exactly one diagnostic, with the code and the
// line:column written in its `expect` file; and the human and json renderings as snapshots.
#[test]
fn invalid_catalogue() {
    let dirs = fixture_dirs("invalid");
    assert!(dirs.len() >= 30, "the catalogue holds at least 30 cases");
    let mut failures = Vec::new();
    for dir in &dirs {
        let case = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_owned();
        let expect = std::fs::read_to_string(dir.join("expect")).expect("expect file");
        let (code, pos) = expect.trim().split_once(' ').expect("`CODE LINE:COL`");
        let inv: Invalid = match validate_case(dir) {
            Err(misp_gen::Error::Invalid(inv)) => inv,
            Err(other) => {
                failures.push(format!("{case}: not an invalid-spec error: {other}"));
                continue;
            }
            Ok(_) => {
                failures.push(format!("{case}: accepted"));
                continue;
            }
        };
        let got: Vec<String> = inv
            .diags
            .iter()
            .map(|d| format!("{} {}:{}", d.code.as_str(), d.pos.line, d.pos.col))
            .collect();
        if got != vec![format!("{code} {pos}")] {
            failures.push(format!("{case}: want [{code} {pos}], got {got:?}"));
            continue;
        }
        let human = diag::format_all(&inv.diags, Format::Human, &inv.sources);
        let json = diag::format_all(&inv.diags, Format::Json, &inv.sources);
        insta::assert_snapshot!(format!("{case}-human"), human);
        insta::assert_snapshot!(format!("{case}-json"), json);
    }
    assert!(
        failures.is_empty(),
        "catalogue failures:\n{}",
        failures.join("\n")
    );
}

// Pins that every code a spec can trigger is covered by at least one catalogue case.
#[test]
fn catalogue_covers_codes() {
    let covered: Vec<String> = fixture_dirs("invalid")
        .iter()
        .filter_map(|d| std::fs::read_to_string(d.join("expect")).ok())
        .filter_map(|e| e.split_whitespace().next().map(str::to_owned))
        .collect();
    // Produced only outside `validate` (render-time or internal), or tested on the fly below.
    // E501 comes from the Kubernetes renderer, which `misp-gen validate` runs in memory
    // (tests/kubernetes.rs and tests/cli.rs pin it).
    let elsewhere = [
        Code::YamlTooLarge,
        Code::UnitValue,
        Code::PodSecurity,
        // Render-time refusals of a database cluster: tests/cluster.rs pins them.
        Code::NotRendered,
        Code::Other,
        // `import`'s codes: about compose files, pinned by tests/import.rs.
        Code::ComposeFile,
        Code::Interpolation,
        Code::CannotImport,
        // The state guard's refusals compare two renders: tests/state.rs pins them.
        Code::StateChange,
    ];
    // Warnings (`W…`) are pinned by tests/security.rs on the specs written for them.
    let missing: Vec<&str> = Code::ALL
        .iter()
        .filter(|c| !elsewhere.contains(c) && !c.is_warning() && !c.is_note())
        .map(|c| c.as_str())
        .filter(|c| !covered.iter().any(|x| x == c))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a catalogue case: {missing:?}"
    );
}

// Pins that a file over the size limit is refused before parsing, at 1:1.
#[test]
fn too_large_is_refused() {
    let mut big = b"apiVersion: misp-gen/v1\n".to_vec();
    big.resize(misp_gen::spec::load::MAX_BYTES + 1, b'#');
    let Err(misp_gen::Error::Invalid(inv)) = validate::validate_bytes("big.yaml", &big, None, None)
    else {
        panic!("accepted an oversized file");
    };
    assert_eq!(inv.diags.len(), 1);
    assert_eq!(inv.diags[0].code, Code::YamlTooLarge);
}

// Pins that the tricky valid fixtures (escapes, YAML 1.2 scalars, anchors, custom profile) pass.
#[test]
fn valid_fixtures() {
    for dir in fixture_dirs("valid") {
        if let Err(e) = validate_case(&dir) {
            let detail = match &e {
                misp_gen::Error::Invalid(inv) => {
                    diag::format_all(&inv.diags, Format::Human, &inv.sources)
                }
                other => other.to_string(),
            };
            panic!("{} rejected:\n{detail}", dir.display());
        }
    }
}

// Pins that every example validates under both built-in profiles.
#[test]
fn examples_validate_under_both_profiles() {
    for example in ["misp", "portus", "starter"] {
        for profile in ["single-node", "ha"] {
            let path = PathBuf::from(format!("examples/{example}.yaml"));
            if let Err(e) = validate::validate_file(&path, Some(profile)) {
                let detail = match &e {
                    misp_gen::Error::Invalid(inv) => {
                        diag::format_all(&inv.diags, Format::Human, &inv.sources)
                    }
                    other => other.to_string(),
                };
                panic!("{example} under {profile}:\n{detail}");
            }
        }
    }
}

// Pins that codes are unique and stable in shape (`E` for errors, `W` for warnings, `I` for the
// notes of `import`'s report, three digits
// and a name), and that every hardening warning is the warning of exactly one `accept` key.
#[test]
fn codes_are_unique() {
    let mut seen = std::collections::BTreeSet::new();
    for c in Code::ALL {
        let s = c.as_str();
        assert!(seen.insert(s), "duplicate code {s}");
        assert!(
            s.len() > 5
                && (s.starts_with('E') || s.starts_with('W') || s.starts_with('I'))
                && s[1..4].bytes().all(|b| b.is_ascii_digit()),
            "{s}"
        );
    }
    // Every hardening warning has its `accept` key; W109 (a host mount is an empty claim on
    // Kubernetes) and W700 (a change of state between renders) are not hardening questions, and
    // W110 reports a Pod Security violation, which the `accept` key of that violation settles
    // (`capabilities`, `host_port`), as it settles W102 or W108.
    for c in Code::ALL.iter().filter(|c| {
        c.is_warning()
            && !matches!(
                c,
                Code::WarnHostMount | Code::WarnStateChange | Code::WarnPodSecurity
            )
    }) {
        let keys: Vec<_> = misp_gen::spec::model::Exception::ALL
            .iter()
            .filter(|e| misp_gen::security::warning_code(**e) == Some(*c))
            .collect();
        assert_eq!(keys.len(), 1, "{c:?}");
    }
}

// Pins that a typo in an overlay of a profile that is not selected is still reported, at the
// overlay's own line.
#[test]
fn unselected_overlay_errors_are_reported() {
    let src = "apiVersion: misp-gen/v1\nname: t\nservices:\n  web:\n    image: nginx:1.27.3\nprofiles:\n  ha:\n    services:\n      web:\n        replcas: 3\n";
    let Err(misp_gen::Error::Invalid(inv)) =
        validate::validate_bytes("t.yaml", src.as_bytes(), Some("single-node"), None)
    else {
        panic!("accepted a typo in the ha overlay");
    };
    assert_eq!(inv.diags.len(), 1, "{:?}", inv.diags);
    assert_eq!(
        (inv.diags[0].code, inv.diags[0].pos.line),
        (Code::SchemaUnknownField, 10)
    );
}

// Pins that a misspelt required field gives one diagnostic that names the field it was meant to be.
#[test]
fn misspelt_required_field_is_one_error() {
    let src = "apiVersion: misp-gen/v1\nname: t\nservices:\n  web:\n    imgae: nginx:1.27.3\n";
    let Err(misp_gen::Error::Invalid(inv)) =
        validate::validate_bytes("t.yaml", src.as_bytes(), None, None)
    else {
        panic!("accepted");
    };
    assert_eq!(inv.diags.len(), 1, "{:?}", inv.diags);
    assert_eq!(inv.diags[0].help.as_deref(), Some("did you mean `image`?"));
}

// Pins that a mirror with credentials is refused without echoing them.
#[test]
fn mirror_credentials_never_echoed() {
    let src = "apiVersion: misp-gen/v1\nname: t\nimages: { mirror: \"https://user:s3cret@registry.example\" }\nservices:\n  web:\n    image: nginx:1.27.3\n";
    let Err(misp_gen::Error::Invalid(inv)) =
        validate::validate_bytes("t.yaml", src.as_bytes(), None, None)
    else {
        panic!("accepted");
    };
    let text = diag::format_all(&inv.diags, Format::Json, &inv.sources);
    assert!(!text.contains("s3cret"), "{text}");
    assert_eq!(inv.diags[0].code, Code::ImageSyntax);
}
