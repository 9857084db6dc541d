//! The book's generated reference pages are what the binary says: each committed page under
//! `docs/src/reference/` equals what `misp_gen::docs` generates from the schema, the clap
//! definition and the code table. `MISP_GEN_BLESS=1 cargo test --test docs` rewrites them.

use std::path::Path;

fn book_src() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/src")
}

// Pins that every generated page is committed as generated: a changed field description, option
// or code fails here, naming the page and the command that regenerates it.
#[test]
fn reference_pages_are_generated() {
    let bless = std::env::var_os("MISP_GEN_BLESS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (rel, want) in misp_gen::docs::pages() {
        let path = book_src().join(rel);
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        if have == want {
            continue;
        }
        if bless {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).expect("docs/src/reference/ can be created");
            }
            std::fs::write(&path, &want)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
            eprintln!("rewrote docs/src/{rel}");
            continue;
        }
        let first = have
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| have.lines().count().min(want.lines().count()));
        stale.push(format!(
            "docs/src/{rel} differs from what misp_gen::docs generates (first at line {}):\n  committed: {}\n  generated: {}",
            first + 1,
            have.lines().nth(first).unwrap_or("(end of file)"),
            want.lines().nth(first).unwrap_or("(end of file)"),
        ));
    }
    assert!(
        stale.is_empty(),
        "{}\nRegenerate with: MISP_GEN_BLESS=1 cargo test --test docs (then review with git diff)",
        stale.join("\n")
    );
}

// Pins that the spec reference names every field of the schema, nested ones included: each
// property name of every object in the schema appears as a row of some table.
#[test]
fn spec_reference_has_every_field() {
    let schema = misp_gen::spec::schema();
    let page = misp_gen::docs::spec_reference();
    let mut missing = Vec::new();
    let mut count = 0;
    let mut objects = vec![&schema];
    if let Some(defs) = schema.get("$defs").and_then(|d| d.as_object()) {
        objects.extend(defs.values());
    }
    for o in objects {
        for name in o
            .get("properties")
            .and_then(|p| p.as_object())
            .into_iter()
            .flat_map(|p| p.keys())
        {
            count += 1;
            if !page.contains(&format!("\n| `{name}`")) {
                missing.push(name.clone());
            }
        }
    }
    assert!(count > 100, "only {count} fields in the schema");
    assert!(missing.is_empty(), "not in the spec reference: {missing:?}");
    // Nested: the service's hardening block is reached from three places and shown once.
    assert!(
        page.contains("At `database.security`, `security`, `services.NAME.security`.\n"),
        "{page}"
    );
}

// Pins that the CLI reference has every command and subcommand with its usage, and every option
// with its default and possible values.
#[test]
fn cli_reference_has_every_command_and_option() {
    let page = misp_gen::docs::cli_reference();
    let mut cmd = <misp_gen::cli::Cli as clap::CommandFactory>::command();
    cmd.build();
    let mut stack = vec![cmd];
    let mut seen = 0;
    while let Some(c) = stack.pop() {
        let name = c.get_bin_name().unwrap_or(c.get_name()).to_owned();
        if c.get_name() == "help" {
            continue;
        }
        seen += 1;
        let heading = format!("\n## `{name}`\n");
        let start = page
            .find(&heading)
            .unwrap_or_else(|| panic!("no section for {name}"))
            + heading.len();
        let section = &page[start
            ..page[start..]
                .find("\n## ")
                .map_or(page.len(), |e| start + e)];
        assert!(
            section.contains(&format!("```text\n{name}")),
            "{name}: no usage"
        );
        for a in c.get_arguments().filter(|a| !a.is_hide_set()) {
            if let Some(long) = a.get_long() {
                assert!(
                    section
                        .lines()
                        .any(|l| l.starts_with("| `") && l.contains(&format!("--{long}"))),
                    "{name}: --{long} missing"
                );
            }
        }
        stack.extend(c.get_subcommands().cloned());
    }
    assert!(seen >= 14, "only {seen} commands");
    assert!(page.contains("| `--format <FORMAT>` |"), "{page}");
    assert!(
        page.contains("`sarif`: SARIF 2.1.0, for code-scanning uploads"),
        "{page}"
    );
    assert!(
        page.contains("```text\nmisp-gen render [OPTIONS] <SPEC>\n```"),
        "{page}"
    );
}

// Pins that the README stays a front page: under 15 KB, the two commands a newcomer runs come
// first (as `.ci/run` runs them), and every relative link reaches a file in the repository (the
// book's chapters above all), so a moved chapter cannot leave the front page pointing at nothing.
#[test]
fn readme_is_a_front_page_into_the_book() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    assert!(
        readme.len() <= 15 * 1024,
        "README.md is {} bytes: keep it a front page (at most 15 KB) and move the rest into docs/src/",
        readme.len()
    );
    let first = readme.find("```sh\n").expect("a sh block") + "```sh\n".len();
    let block = &readme[first..first + readme[first..].find("```").expect("closed")];
    let commands: Vec<&str> = block
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .collect();
    assert_eq!(
        commands,
        [
            "cargo run --release -- render examples/misp.yaml --out out/",
            "cargo test"
        ],
        "the README's first block"
    );
    let mut links = 0;
    let mut rest = readme.as_str();
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        let target = &rest[..rest.find(')').expect("a closed link")];
        if target.contains("://") || target.starts_with('#') {
            continue;
        }
        let file = target.split('#').next().unwrap_or_default();
        links += 1;
        assert!(
            root.join(file).exists(),
            "README.md links to {target}, which does not exist"
        );
    }
    assert!(links >= 10, "only {links} links into the book");
}
