//! The closing checks of `cargo test`. Cargo runs the test binaries one after another in the
//! order of their names, so this one (`zz_`) runs last, and:
//! - ends the run with one line saying what was skipped and why, counted per tool, from what the
//!   others recorded through `common::skip` under their shared parent, cargo (under CI=true
//!   nothing is skipped: a missing tool fails its test);
//! - fails on an orphaned snapshot: a file under tests/snapshots/ that no test asserted in this
//!   run (insta lists every snapshot it asserts in `$INSTA_SNAPSHOT_REFERENCES_FILE`, which
//!   .cargo/config.toml sets). Only the snapshots of test binaries that asserted any are judged,
//!   and a run given a test-name filter judges none.

#![allow(clippy::expect_used, reason = "a test binary")]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::Path;

/// The skips recorded in this run: per tool, how many and the distinct reasons.
fn skips() -> BTreeMap<String, (usize, Vec<String>)> {
    let dir = common::skip_dir(std::os::unix::process::parent_id());
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
            if !Path::new("/proc").join(&pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    by_what
}

fn skip_line(by_what: &BTreeMap<String, (usize, Vec<String>)>) -> String {
    if by_what.is_empty() {
        return "skipped: nothing".to_owned();
    }
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
}

/// The snapshot files no test of a binary that asserted snapshots asserted in this run, or
/// `None` when the run cannot tell (a filtered run, or insta wrote no list).
fn orphaned_snapshots(filtered: bool) -> Option<Vec<String>> {
    let list = std::env::var_os("INSTA_SNAPSHOT_REFERENCES_FILE")?;
    let text = std::fs::read_to_string(&list).ok();
    let _ = std::fs::remove_file(&list);
    if filtered {
        return None;
    }
    let referenced: BTreeSet<String> = text?
        .lines()
        .filter_map(|l| Path::new(l).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    let prefix = |name: &str| name.split("__").next().unwrap_or(name).to_owned();
    let ran: BTreeSet<String> = referenced.iter().map(|n| prefix(n)).collect();
    let dir = common::repo().join("tests/snapshots");
    let mut orphans: Vec<String> = std::fs::read_dir(dir)
        .expect("tests/snapshots")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| Path::new(n).extension().is_some_and(|e| e == "snap"))
        .filter(|n| ran.contains(&prefix(n)) && !referenced.contains(n))
        .collect();
    orphans.sort();
    Some(orphans)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo test -- --list` asks every binary for its tests: this one has none to name.
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let filtered = args.iter().any(|a| !a.starts_with('-'));
    let mut err = std::io::stderr();
    let orphans = orphaned_snapshots(filtered);
    let line = skip_line(&skips());
    match orphans {
        Some(orphans) if !orphans.is_empty() => {
            let _ = writeln!(
                err,
                "\norphaned snapshots: no test asserted these in this run; delete them, or restore the test that wrote them:"
            );
            for o in &orphans {
                let _ = writeln!(err, "  tests/snapshots/{o}");
            }
            let _ = writeln!(err, "\n{line}");
            std::process::exit(1);
        }
        _ => {
            let _ = writeln!(err, "\n{line}");
        }
    }
}
