//! misp-gen: one validated deployment spec in; docker-compose, Kubernetes manifests and systemd
//! units out.

pub mod bundle;
pub mod cli;
pub mod diag;
pub mod docs;
pub mod domain;
pub mod error;
pub mod fileset;
pub mod hardening;
pub mod host;
pub mod image;
pub mod import;
pub mod init;
pub mod output;
pub mod pipeline;
pub mod pki;
pub mod placeholder;
pub mod plan;
pub mod profile;
pub mod render;
pub mod secrets;
pub mod security;
pub mod shell;
pub mod spec;
pub mod state;
pub mod units;
pub mod validate;

use std::fmt::Write as _;
use std::io::Write as _;

pub use error::Error;
pub use pipeline::{RenderOptions, SecretSource, render_files, render_files_with, render_to_dir};

use cli::{Cli, Command};

/// Run one command; what it prints goes to `stdout`, problems come back as the error.
///
/// # Errors
/// The command's failure, with its exit code in [`Error::exit_code`].
#[expect(clippy::too_many_lines, reason = "one arm per command")]
pub fn run(cli: Cli, stdout: &mut dyn std::io::Write) -> Result<(), Error> {
    let out = |stdout: &mut dyn std::io::Write, s: &str| {
        stdout
            .write_all(s.as_bytes())
            .map_err(|e| Error::Io("cannot write to standard output".into(), e))
    };
    match cli.command {
        Command::Validate {
            spec,
            profile,
            format,
            deny,
            strict,
        } => {
            let deny = strict || deny == Some(cli::Deny::Warnings);
            match validate::validate_file(&spec, profile.as_deref()).and_then(|valid| {
                pipeline::check_renderable(&valid)?;
                Ok(valid)
            }) {
                Ok(valid) => {
                    // The process ends with this command: the OS takes the validated spec and
                    // its model back at once, where freeing them node by node cost a tenth of
                    // the command's time.
                    let valid = std::mem::ManuallyDrop::new(valid);
                    let sources = std::collections::BTreeMap::from([(
                        valid.raw.file.clone(),
                        valid.raw.source.clone(),
                    )]);
                    let text = diag::format_all(&valid.warnings, format, &sources);
                    if format == diag::Format::Human {
                        let _ = std::io::stderr().write_all(text.as_bytes());
                    } else {
                        out(stdout, &text)?;
                    }
                    if deny && !valid.warnings.is_empty() {
                        let n = valid.warnings.len();
                        return Err(Error::Failed(format!(
                            "{n} warning{} denied by --deny warnings: settle each question in the spec, or accept it with a reason in `security.accept`",
                            if n == 1 { "" } else { "s" }
                        )));
                    }
                    Ok(())
                }
                Err(Error::Invalid(inv)) if format != diag::Format::Human => {
                    // Machine formats go to stdout so CI can capture them.
                    out(stdout, &diag::format_all(&inv.diags, format, &inv.sources))?;
                    Err(Error::Invalid(validate::Invalid {
                        diags: Vec::new(),
                        sources: inv.sources,
                    }))
                }
                Err(e) => Err(e),
            }
        }
        Command::Render {
            spec,
            profile,
            target,
            out: dir,
            check,
            templates,
            registry_mirror,
            flavor,
            allow_state_change,
        } => {
            // Never freed: the process ends with this command (see `validate`).
            let valid =
                std::mem::ManuallyDrop::new(validate::validate_file(&spec, profile.as_deref())?);
            if !valid.warnings.is_empty() {
                let sources = std::collections::BTreeMap::from([(
                    valid.raw.file.clone(),
                    valid.raw.source.clone(),
                )]);
                let _ = std::io::stderr().write_all(
                    diag::format_all(&valid.warnings, diag::Format::Human, &sources).as_bytes(),
                );
            }
            let opts = RenderOptions {
                target,
                templates,
                registry_mirror,
                flavor,
                allow_state_change,
            };
            if !check {
                return render_to_dir(&valid, &dir, &opts);
            }
            // A check reads beside no render.
            let _shared = output::lock_shared(&dir)?;
            // A checkout without secrets/ (CI: secrets are never committed) is checked on the
            // committed outputs alone, which never depend on a secret's value: secrets are
            // neither read nor generated then, and external ones need no value.
            let with_secrets = output::has_secrets(&dir);
            let source = if with_secrets {
                SecretSource::Kept
            } else {
                SecretSource::Placeholders
            };
            let files = render_files_with(&valid, &dir, &opts, &|k| std::env::var(k).ok(), source)?;
            if !with_secrets {
                let _ = writeln!(
                    std::io::stderr(),
                    "note: {} has no secrets/: compared the files outside it and SHA256SUMS; no secret was read or generated",
                    dir.display()
                );
            }
            let diff = output::check(&dir, &files, with_secrets)?;
            if diff.is_empty() {
                return Ok(());
            }
            out(stdout, &diff)?;
            Err(Error::Failed(format!(
                "{} differs from what the spec renders to",
                dir.display()
            )))
        }
        Command::Bundle(args) => run_bundle(args),
        Command::Verify { dir } => {
            let _shared = output::lock_shared(&dir)?;
            let v = output::verify(&dir)?;
            if v.secrets_skipped {
                let _ = writeln!(
                    std::io::stderr(),
                    "note: {} has no secrets/: checked the files outside it against SHA256SUMS; secrets/SHA256SUMS not checked",
                    dir.display()
                );
            }
            if v.ok() {
                return Ok(());
            }
            let mut text = String::new();
            for (label, list) in [
                ("modified", &v.modified),
                ("missing", &v.missing),
                ("unexpected", &v.unexpected),
                ("mode", &v.modes),
            ] {
                for p in list {
                    let _ = writeln!(text, "{label}: {}", diag::printable(p));
                }
            }
            out(stdout, &text)?;
            Err(Error::Failed(format!(
                "{} does not match its SHA256SUMS",
                dir.display()
            )))
        }
        Command::Images {
            spec,
            profile,
            registry_mirror,
            target,
            format,
        } => {
            let valid = validate::validate_file(&spec, profile.as_deref())?;
            let mirror = pipeline::mirror(&valid.deployment, registry_mirror.as_deref())?;
            let used = plan::images_used(
                &valid.deployment,
                mirror.as_deref(),
                pipeline::rendered(target),
            );
            let text = match format {
                cli::ImagesFormat::List => used.keys().fold(String::new(), |mut acc, i| {
                    acc.push_str(i);
                    acc.push('\n');
                    acc
                }),
                cli::ImagesFormat::Json => images_json(&used)?,
            };
            out(stdout, &text)
        }
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "misp-gen",
                &mut buf,
            );
            if shell == clap_complete::Shell::Bash {
                // clap_complete's bash script spells a hyphenated program's states two ways (the
                // loop `misp__gen__subcmd__render`, the arms `misp__subcmd__gen__subcmd__render`:
                // clap-rs/clap#6421), so no command's options ever completed. One spelling.
                buf = String::from_utf8_lossy(&buf)
                    .replace("misp__subcmd__gen", "misp__gen")
                    .into_bytes();
            }
            stdout
                .write_all(&buf)
                .map_err(|e| Error::Io("cannot write to standard output".into(), e))
        }
        Command::Man { out: Some(dir) } => write_man_pages(&dir),
        Command::Man { out: None } => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
                .render(&mut buf)
                .map_err(|e| Error::Io("cannot render the manual page".into(), e))?;
            stdout
                .write_all(&buf)
                .map_err(|e| Error::Io("cannot write to standard output".into(), e))
        }
        Command::Import {
            compose,
            env_files,
            compose_profiles,
            out: spec_out,
            strict,
            keep_secrets,
            format,
        } => run_import(
            &import::Options {
                files: compose,
                env_files,
                profiles: compose_profiles,
                environment: std::env::vars().collect(),
            },
            spec_out.as_deref(),
            strict,
            keep_secrets.as_deref(),
            format,
            stdout,
        ),
        Command::Codes { format } => out(stdout, &diag::codes_table(format)),
        Command::Schema => {
            let mut s = serde_json::to_string_pretty(&spec::schema())
                .map_err(|e| Error::Internal(e.to_string()))?;
            s.push('\n');
            out(stdout, &s)
        }
        Command::Init {
            file,
            example,
            force,
        } => {
            let msg = init::run(&file, example.as_deref(), force)?;
            if !msg.is_empty() {
                let _ = std::io::stderr().write_all(msg.as_bytes());
            }
            Ok(())
        }
    }
}

/// `import`: the spec and the report in memory first; with `--strict` and anything not carried,
/// nothing is written; then the kept secrets, then the spec, each file atomically.
fn run_import(
    opts: &import::Options,
    spec_out: Option<&std::path::Path>,
    strict: bool,
    keep: Option<&std::path::Path>,
    format: diag::Format,
    stdout: &mut dyn std::io::Write,
) -> Result<(), Error> {
    // `--out` is replaced by a rename: a device, FIFO or directory in its place is refused
    // first (renaming over /dev/null as root would replace the device).
    if let Some(p) = spec_out.filter(|p| *p != std::path::Path::new("-"))
        && let Ok(m) = std::fs::symlink_metadata(p)
        && !m.is_file()
        && !m.file_type().is_symlink()
    {
        return Err(Error::Usage(format!(
            "--out {} is not a regular file: name a file to write the spec to, or `-` for standard output",
            p.display()
        )));
    }
    // A machine-readable report shares standard output only when the spec does not.
    let report_to_stdout = format != diag::Format::Human && spec_out.is_some();
    let say = |stdout: &mut dyn std::io::Write, text: &str| -> Result<(), Error> {
        if report_to_stdout {
            stdout
                .write_all(text.as_bytes())
                .map_err(|e| Error::Io("cannot write to standard output".into(), e))
        } else {
            let _ = std::io::stderr().write_all(text.as_bytes());
            Ok(())
        }
    };
    let imported = match import::import(opts) {
        Ok(i) => i,
        Err(Error::Invalid(inv)) if format != diag::Format::Human => {
            say(stdout, &diag::format_all(&inv.diags, format, &inv.sources))?;
            return Err(Error::Invalid(validate::Invalid {
                diags: Vec::new(),
                sources: inv.sources,
            }));
        }
        Err(e) => return Err(e),
    };
    say(
        stdout,
        &diag::format_all(&imported.report, format, &imported.sources),
    )?;
    let dropped = imported.dropped();
    if strict && dropped > 0 {
        return Err(Error::Failed(format!(
            "{dropped} compose key{} not carried (--strict): nothing written",
            if dropped == 1 { " was" } else { "s were" }
        )));
    }
    if let Some(dir) = keep {
        let written = import::keep_secrets(dir, &imported.held)?;
        if !written.is_empty() {
            let _ = writeln!(
                std::io::stderr(),
                "kept {} secret value{} the compose project held in {}",
                written.len(),
                if written.len() == 1 { "" } else { "s" },
                dir.join("secrets").display()
            );
        }
    }
    match spec_out {
        Some(p) if p != std::path::Path::new("-") => {
            output::write_atomic(p, imported.spec.as_bytes(), Some(0o644))
                .map_err(|e| Error::Io(format!("cannot write {}", p.display()), e))
        }
        _ => stdout
            .write_all(imported.spec.as_bytes())
            .map_err(|e| Error::Io("cannot write to standard output".into(), e)),
    }
}

fn run_bundle(args: cli::BundleArgs) -> Result<(), Error> {
    let say = |s: &str| {
        let _ = writeln!(std::io::stderr(), "{s}");
    };
    // Every host from the command line through the one host parser, before any work.
    let location = |flag: &str, v: &str| {
        image::check_mirror(v).map_err(|e| Error::Usage(format!("{flag}: {e}")))
    };
    if let Some(m) = &args.registry_mirror {
        location("--registry-mirror", m)?;
    }
    if let Some(cli::BundleAction::Push { registry, .. }) = &args.action {
        location("--registry", registry)?;
    }
    match args.action {
        None => {
            let (Some(spec), Some(out)) = (args.spec, args.out) else {
                return Err(Error::Usage("bundle needs SPEC and --out FILE".into()));
            };
            let source = if args.from_engine {
                bundle::ImageSource::Engine(args.engine)
            } else {
                bundle::ImageSource::Registry {
                    mirror: args.registry_mirror,
                    ca_file: args.ca_file,
                    plain_http: args.plain_http,
                }
            };
            let summary = bundle::create(&bundle::Create {
                spec,
                profile: args.profile,
                out,
                source,
                platforms: args.platforms,
            })?;
            say(&summary);
            Ok(())
        }
        Some(cli::BundleAction::Verify { file }) => {
            let diffs = bundle::verify(&file)?;
            if diffs.is_empty() {
                say(&format!(
                    "{}: every checksum and digest matches",
                    file.display()
                ));
                return Ok(());
            }
            let mut stdout = std::io::stdout().lock();
            for d in &diffs {
                let _ = writeln!(stdout, "{d}");
            }
            Err(Error::Failed(format!(
                "{} does not match its checksums and digests ({} difference{})",
                file.display(),
                diffs.len(),
                if diffs.len() == 1 { "" } else { "s" }
            )))
        }
        Some(cli::BundleAction::Push {
            file,
            registry,
            ca_file,
            plain_http,
            out,
            pull,
            flavor,
        }) => {
            let site = bundle::SiteRender {
                out,
                pull: pull.map(Into::into),
                flavor,
            };
            let scheme = if plain_http {
                bundle::registry::Scheme::PlainHttp
            } else {
                bundle::registry::Scheme::Https
            };
            say(&bundle::push(
                &file,
                &registry,
                ca_file.as_deref(),
                scheme,
                &site,
            )?);
            Ok(())
        }
        Some(cli::BundleAction::Load {
            file,
            engine,
            out,
            flavor,
        }) => {
            let site = bundle::SiteRender {
                out,
                pull: None,
                flavor,
            };
            say(&bundle::load(&file, &engine, &site)?);
            Ok(())
        }
    }
}

/// `man --out DIR`: every page rendered in memory, every name in `DIR` checked (a link is never
/// written through, a FIFO or a directory is not a page), then each page written atomically, so
/// a refusal leaves `DIR` as it was and a reader never sees half a page.
fn write_man_pages(dir: &std::path::Path) -> Result<(), Error> {
    fn pages(cmd: clap::Command, out: &mut Vec<(String, Vec<u8>)>) -> Result<(), Error> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned() {
            pages(sub, out)?;
        }
        let man = clap_mangen::Man::new(cmd);
        let mut buf = Vec::new();
        man.render(&mut buf)
            .map_err(|e| Error::Io("cannot render the manual pages".into(), e))?;
        out.push((man.get_filename(), buf));
        Ok(())
    }
    let mut cmd = <Cli as clap::CommandFactory>::command().disable_help_subcommand(true);
    cmd.build();
    let mut all = Vec::new();
    pages(cmd, &mut all)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Io(format!("cannot create {}", dir.display()), e))?;
    for (name, _) in &all {
        let p = dir.join(name);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_file() => {}
            Ok(m) => {
                let what = if m.file_type().is_symlink() {
                    "a symbolic link; misp-gen never writes through one"
                } else {
                    "not a regular file"
                };
                return Err(Error::Io(
                    format!(
                        "{} is {what}: remove it, or choose another --out",
                        p.display()
                    ),
                    std::io::Error::other("refused"),
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::Io(format!("cannot read {}", p.display()), e)),
        }
    }
    for (name, bytes) in &all {
        let p = dir.join(name);
        output::write_atomic(&p, bytes, Some(0o644))
            .map_err(|e| Error::Io(format!("cannot write {}", p.display()), e))?;
    }
    Ok(())
}

fn images_json(used: &std::collections::BTreeMap<String, Vec<String>>) -> Result<String, Error> {
    let list: Vec<serde_json::Value> = used
        .iter()
        .map(|(image, users)| {
            let r = image::ImageRef::parse(image).ok();
            serde_json::json!({
                "image": image,
                "registry": r.as_ref().map(|r| r.registry.clone()),
                "repository": r.as_ref().map(|r| r.path.clone()),
                "tag": r.as_ref().and_then(|r| r.tag.clone()),
                "digest": r.as_ref().and_then(|r| r.digest.clone()),
                "used_by": users,
            })
        })
        .collect();
    let mut s = serde_json::to_string_pretty(&list).map_err(|e| Error::Internal(e.to_string()))?;
    s.push('\n');
    Ok(s)
}
