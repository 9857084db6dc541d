//! The closing line of `cargo test`: what the run skipped and why, counted per tool. Cargo runs
//! the test binaries one after another in the order of their names, so this one (`zz_`) runs last
//! and reads what the others recorded through `common::skip` under their shared parent, cargo.
//! Under CI=true nothing is skipped: a missing tool fails its test.

#![allow(clippy::expect_used, reason = "a test binary")]

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;

fn main() {
    // `cargo test -- --list` asks every binary for its tests: this one has none to name.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let cargo = std::os::unix::process::parent_id();
    let dir = common::skip_dir(cargo);
    let mut by_what: BTreeMap<String, (usize, Vec<String>)> = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for line in text.lines() {
            let (what, why) = line.split_once('\t').unwrap_or((line, ""));
            let seen = by_what.entry(what.to_owned()).or_default();
            seen.0 += 1;
            if !seen.1.iter().any(|w| w == why) {
                seen.1.push(why.to_owned());
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    // Records of earlier runs whose closing binary did not run (a filtered `cargo test`).
    if let Some(root) = dir.parent() {
        for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
            let pid = entry.file_name().to_string_lossy().into_owned();
            if !std::path::Path::new("/proc").join(&pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let line = if by_what.is_empty() {
        "skipped: nothing".to_owned()
    } else {
        let parts: Vec<String> = by_what
            .iter()
            .map(|(what, (n, whys))| {
                let mut why = whys.iter().take(2).cloned().collect::<Vec<_>>().join("; ");
                if whys.len() > 2 {
                    why.push_str("; …");
                }
                format!("{n} {what} ({why})")
            })
            .collect();
        format!(
            "skipped: {} (the parts that need them did not run; .ci/tools.sh installs them, and under CI=true each is a failure)",
            parts.join(", ")
        )
    };
    let mut err = std::io::stderr();
    let _ = writeln!(err, "\n{line}");
}
