//! The repository's own scripts: every shell script passes shellcheck (as `.ci/run` checks it) and
//! every Python helper of `.ci/` compiles.
//!
//! Tools: shellcheck (Debian's package, `.ci/tools.sh` installs it) and python3, looked up as
//! [`common::tool`] does: a missing one skips that part, except under CI=true, where it fails.

#![expect(clippy::expect_used, reason = "tests fail by panicking")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Run as _, repo, tool};

/// The files of `dir` (relative to the repository) whose names end with `suffix`, sorted.
fn files(dir: &str, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
        .expect("readable dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().ends_with(suffix))
        })
        .map(|p| {
            p.strip_prefix(repo())
                .expect("under the repo")
                .to_path_buf()
        })
        .collect();
    v.sort();
    v
}

/// Every shell script: `.ci/run` and the `*.sh` of `.ci/`, `tests/e2e/` and `benches/`, relative to
/// the repository, the same list as `.ci/run`'s shellcheck step.
fn shell_scripts() -> Vec<PathBuf> {
    let mut v = vec![Path::new(".ci/run").to_path_buf()];
    for dir in [".ci", "tests/e2e", "benches"] {
        v.extend(files(dir, ".sh"));
    }
    v
}

// Pins that shellcheck finds nothing in any shell script (a wrong finding is disabled inline with
// its reason), run from the repository root with -x as `.ci/run` runs it.
#[test]
fn shell_scripts_pass_shellcheck() {
    let Some(shellcheck) = tool("shellcheck") else {
        return;
    };
    let scripts = shell_scripts();
    assert!(scripts.len() >= 8, "found only {scripts:?}");
    let o = Command::new(shellcheck)
        .arg("-x")
        .args(&scripts)
        .current_dir(repo())
        .output()
        .expect("shellcheck runs");
    assert!(
        o.status.success() && o.stdout.is_empty() && o.stderr.is_empty(),
        "shellcheck on {scripts:?}:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

// Pins that every Python helper of `.ci/` and `benches/` compiles (py_compile; the bytecode goes
// to a temporary directory, not next to the sources) and says what it does in a docstring.
#[test]
fn ci_python_helpers_compile() {
    let mut helpers = files(".ci", ".py");
    helpers.extend(files("benches", ".py"));
    assert!(helpers.len() > 1, "no .ci/*.py or benches/*.py");
    for h in &helpers {
        let text = std::fs::read_to_string(repo().join(h)).expect("readable");
        assert!(
            text.starts_with("\"\"\""),
            "{} starts with no docstring",
            h.display()
        );
    }
    let Some(python) = tool("python3") else {
        return;
    };
    let cache = tempfile::tempdir().expect("tmp");
    let o = Command::new(python)
        .args(["-m", "py_compile"])
        .args(&helpers)
        .current_dir(repo())
        .env("PYTHONPYCACHEPREFIX", cache.path())
        .output()
        .expect("python3 runs");
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "py_compile on {helpers:?}:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

// Pins the one tool lookup: the tests (tests/common) and the .ci scripts (.ci/tool-lookup.sh) read
// the same minimum versions (.ci/min-versions) and refuse the same too-old tool. A fake
// `docker-compose` that says 1.29.2 (Debian's Compose v1) is too old for both; one that says
// 2.29.7 is new enough for both.
#[test]
fn one_tool_lookup_for_tests_and_scripts() {
    assert_eq!(
        common::first_version("Client Version: v1.32.0"),
        Some((1, 32))
    );
    assert_eq!(common::first_version("1.29.2"), Some((1, 29)));
    assert_eq!(common::first_version("no version"), None);
    let tmp = tempfile::tempdir().expect("tmp");
    for (said, old) in [("1.29.2", true), ("2.29.7", false)] {
        let fake = tmp.path().join("docker-compose");
        std::fs::write(&fake, format!("#!/bin/sh\necho {said}\n")).expect("write");
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        assert_eq!(
            common::new_enough("docker-compose", &fake).is_err(),
            old,
            "tests: {said}"
        );
        let o = Command::new("bash")
            .args([
                "-c",
                "source .ci/tool-lookup.sh && misp_gen_too_old docker-compose",
            ])
            .current_dir(repo())
            .env("PATH", format!("{}:/usr/bin:/bin", tmp.path().display()))
            .output()
            .expect("bash runs");
        assert_eq!(
            o.status.success(),
            old,
            "scripts: {said}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
}

// Pins that the three targets' renderers repeat each other in fewer than 150 lines
// (.ci/renderer_duplication.py: runs of 4 or more identical lines shared across targets). What
// every target does is decided once, in the plan; what is left are the patterns that take the
// plan's types apart and the renderers' signatures.
#[test]
fn renderers_repeat_each_other_little() {
    let Some(python) = tool("python3") else {
        return;
    };
    let o = Command::new(python)
        .arg(".ci/renderer_duplication.py")
        .current_dir(repo())
        .output()
        .expect("python3 runs");
    let said = String::from_utf8_lossy(&o.stdout);
    let total: usize = said
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("total "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no total: {said}{}", String::from_utf8_lossy(&o.stderr)));
    assert!(total < 150, "the renderers repeat {total} lines:\n{said}");
}

// Pins that every assertion on an exit status in the tests says what ran and what it printed:
// .ci/status_assertions.py finds those that carry no message (a failure would show only
// `left: Some(0) right: Some(2)`) and lists them.
#[test]
fn status_assertions_name_the_command() {
    let Some(python) = tool("python3") else {
        return;
    };
    let o = Command::new(python)
        .args([".ci/status_assertions.py", "tests"])
        .current_dir(repo())
        .ran();
    assert!(
        o.status.success() && o.stdout.is_empty(),
        "assertions on an exit status with no message (use common::Ran):\n{}",
        o.said()
    );
}
