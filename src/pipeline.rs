//! The pipeline as the commands run it: validate (done by the caller), plan, render every target
//! asked for, and write under the output directory's lock. `render`, `validate`'s check that every
//! target would accept the spec, `images` and `bundle` all go through here.

use std::io::Write as _;

use crate::error::Error;
use crate::{cli, image, output, plan, render, secrets, spec, validate};

/// Render `valid` into `dir` as `render` does: under the directory's lock, staged, secrets kept.
///
/// # Errors
/// As `render`.
pub fn render_to_dir(
    valid: &validate::Valid,
    dir: &std::path::Path,
    opts: &RenderOptions,
) -> Result<(), Error> {
    render_site_to_dir(valid, dir, opts, &Site::default())
}

/// What a site changes in the deployment it renders after `bundle push` or `bundle load`: the
/// images pinned to the digests it holds, its own pull policy. The spec stays as bundled.
#[derive(Debug, Clone, Default)]
pub struct Site {
    /// Image (without a digest) → the digest the site's registry holds it under.
    pub digests: std::collections::BTreeMap<String, String>,
    pub pull: Option<spec::model::Pull>,
}

impl Site {
    fn is_empty(&self) -> bool {
        self.digests.is_empty() && self.pull.is_none()
    }

    fn apply(&self, d: &mut plan::Deployment) {
        if !self.digests.is_empty() {
            d.pin_images(&|image| pin_image(image, &self.digests));
        }
        if let Some(p) = self.pull {
            d.pull = Some(p);
        }
    }
}

/// `image` pinned to the digest `digests` holds for it. The held digest replaces one the image
/// names: for a multi-platform image bundled for one platform it is that platform's manifest,
/// which the site has.
fn pin_image(image: &str, digests: &std::collections::BTreeMap<String, String>) -> String {
    match image::ImageRef::parse(image) {
        Ok(mut r) => {
            let key = image::ImageRef {
                digest: None,
                ..r.clone()
            }
            .to_string();
            if let Some(d) = digests.get(&key) {
                r.digest = Some(d.clone());
            }
            r.to_string()
        }
        Err(_) => image.to_owned(),
    }
}

/// [`render_to_dir`] for a site: its digests and pull policy applied to the deployment.
///
/// # Errors
/// As `render`.
pub fn render_site_to_dir(
    valid: &validate::Valid,
    dir: &std::path::Path,
    opts: &RenderOptions,
    site: &Site,
) -> Result<(), Error> {
    // One render at a time per directory, from reading secrets/ to writing SHA256SUMS.
    // A directory this render creates (to lock it) is removed again if the render fails.
    let created = (!dir.exists()).then(|| RemoveIfEmpty(dir.to_path_buf()));
    let lock = output::lock_exclusive(dir, output::lock_wait())?;
    let files = render_site_files(
        valid,
        dir,
        opts,
        &|k| std::env::var(k).ok(),
        SecretSource::Kept,
        site,
    )?;
    let report = output::write(dir, &files, &lock)?;
    std::mem::forget(created);
    let _ = writeln!(
        std::io::stderr(),
        "rendered {} files into {} ({} changed, {} removed)",
        files.len(),
        dir.display(),
        report.written.len(),
        report.removed.len()
    );
    Ok(())
}

/// What to render and how.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    pub target: cli::Target,
    pub templates: Option<std::path::PathBuf>,
    pub registry_mirror: Option<String>,
    /// systemd flavour from the command line (overrides the spec).
    pub flavor: Option<spec::model::Flavor>,
    /// The changes of state (`--allow-state-change NAME`) the operator accepts.
    pub allow_state_change: Vec<String>,
}

/// The registry mirror a render writes: `--registry-mirror` (checked), else the spec's.
pub(crate) fn mirror(d: &plan::Deployment, cli: Option<&str>) -> Result<Option<String>, Error> {
    if let Some(m) = cli {
        image::check_mirror(m).map_err(|e| Error::Usage(format!("--registry-mirror: {e}")))?;
        return Ok(Some(m.to_owned()));
    }
    Ok(d.mirror.clone())
}

/// Where the secrets of a render come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource {
    /// Kept under `DIR/secrets/`, external ones from the environment, the rest generated.
    Kept,
    /// Stand-ins ([`secrets::placeholders`]): for comparing the outputs outside `secrets/` only.
    Placeholders,
}

/// Render every requested target into an in-memory file set (secrets, images.txt included).
///
/// # Errors
/// Missing external secrets (exit 1), values a target cannot carry, template errors.
pub fn render_files(
    valid: &validate::Valid,
    dir: &std::path::Path,
    opts: &RenderOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<render::FileSet, Error> {
    render_files_with(valid, dir, opts, env, SecretSource::Kept)
}

/// [`render_files`] with the secrets from `source`.
///
/// # Errors
/// As [`render_files`].
pub fn render_files_with(
    valid: &validate::Valid,
    dir: &std::path::Path,
    opts: &RenderOptions,
    env: &dyn Fn(&str) -> Option<String>,
    source: SecretSource,
) -> Result<render::FileSet, Error> {
    render_site_files(valid, dir, opts, env, source, &Site::default())
}

fn render_site_files(
    valid: &validate::Valid,
    dir: &std::path::Path,
    opts: &RenderOptions,
    env: &dyn Fn(&str) -> Option<String>,
    source: SecretSource,
    site: &Site,
) -> Result<render::FileSet, Error> {
    // The templates compile while the secrets are read (or made): neither needs the other.
    let (secrets, templates) = std::thread::scope(|scope| {
        let templates = scope.spawn(|| render::Templates::new(opts.templates.as_deref()));
        let secrets = match source {
            SecretSource::Kept => prepare_secrets(valid, dir, env),
            SecretSource::Placeholders => Ok(secrets::placeholders(valid)),
        };
        let templates = templates
            .join()
            .unwrap_or_else(|_| Err(Error::Internal("the template compile panicked".into())));
        (secrets, templates)
    });
    let (secrets, templates) = (secrets?, templates?);
    let (mut files, state) = if site.is_empty() {
        render_with(&valid.deployment, &secrets, opts, &templates)?
    } else {
        let mut deployment = valid.deployment.clone();
        site.apply(&mut deployment);
        render_with(&deployment, &secrets, opts, &templates)?
    };
    let state = guard_state(&valid.deployment, dir, state, &opts.allow_state_change)?;
    render::add(&mut files, crate::state::STATE_FILE, state.to_text(), 0o644);
    Ok(files)
}

/// The state guard: this render's state (with what the last render recorded for targets not
/// rendered now) compared with the last render's, in `dir/state.json`. A change that would
/// orphan or break data is refused unless `allowed` names it; the others are warnings.
fn guard_state(
    d: &plan::Deployment,
    dir: &std::path::Path,
    mut state: crate::state::State,
    allowed: &[String],
) -> Result<crate::state::State, Error> {
    use crate::state::{Change, Origin, STATE_FILE, State};
    state.database = database_state(d);
    let old = match output::read_entry(dir, STATE_FILE)? {
        None => None,
        Some(bytes) => State::parse(&bytes).map_err(|why| {
            Error::Failed(format!(
                "{}: {why}. misp-gen writes this file to remember what holds data; restore it from version control, or remove it to record the current render anew (then nothing is compared this once)",
                dir.join(STATE_FILE).display()
            ))
        })?,
    };
    let state = state.carrying(old.as_ref());
    let Some(old) = old else {
        return Ok(state);
    };
    let services = d.workloads.iter().map(|c| c.name.clone()).collect();
    let changes = crate::state::changes(&old, &state, &services);
    let pointer = |o: &Origin| -> String {
        let doc = &d.locator.doc;
        let first = |ps: &[&str]| {
            ps.iter()
                .find(|p| doc.has(p))
                .map_or_else(String::new, |p| (*p).to_owned())
        };
        match o {
            Origin::ComposeProject => first(&["/targets/compose/project", "/name"]),
            Origin::Namespace => first(&["/targets/kubernetes/namespace", "/name"]),
            Origin::Volume(v) => first(&[&format!("/volumes/{v}"), "/volumes", "/name"]),
            Origin::Service(s) => first(&[&format!("/services/{s}"), "/services", "/name"]),
            Origin::Database => {
                first(&["/database/version", "/database/image", "/database", "/name"])
            }
        }
    };
    let mut refused = Vec::new();
    for Change {
        name,
        refused: is_refused,
        origin,
        message,
        help,
    } in changes
    {
        let accepted = allowed.contains(&name);
        let at = pointer(&origin);
        if is_refused && !accepted {
            refused.push(d.locator.key_diag(
                &at,
                crate::diag::Code::StateChange,
                format!(
                    "{message} (compared with {})",
                    dir.join(STATE_FILE).display()
                ),
                &format!("{help}; to accept this change: --allow-state-change {name}"),
            ));
        } else {
            let w = d.locator.key_diag(
                &at,
                crate::diag::Code::WarnStateChange,
                if accepted {
                    format!("{message}: accepted by --allow-state-change {name}")
                } else {
                    message
                },
                &help,
            );
            let _ = std::io::stderr().write_all(
                crate::diag::format_all(
                    &[w],
                    crate::diag::Format::Human,
                    &std::collections::BTreeMap::from([(
                        d.locator.raw.file.clone(),
                        d.locator.raw.source.clone(),
                    )]),
                )
                .as_bytes(),
            );
        }
    }
    if refused.is_empty() {
        Ok(state)
    } else {
        Err(Error::Invalid(d.locator.invalid(refused)))
    }
}

/// The embedded database's engine (its image's repository name), version (the tag) and data
/// members, for the state guard.
fn database_state(d: &plan::Deployment) -> Option<crate::state::Database> {
    let db = d
        .workloads
        .iter()
        .find(|c| c.name == crate::domain::DATABASE)?;
    let r = image::ImageRef::parse(&db.image).ok()?;
    let engine = r.path.rsplit('/').next().unwrap_or(&r.path).to_owned();
    Some(crate::state::Database {
        engine,
        version: r.tag,
        members: db
            .cluster
            .as_ref()
            .map_or(1, |cl| u32::try_from(cl.members.len()).unwrap_or(u32::MAX)),
    })
}

fn prepare_secrets(
    valid: &validate::Valid,
    dir: &std::path::Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<secrets::Secrets, Error> {
    let read = |rel: &str| output::read_entry(dir, &format!("{}/{rel}", output::SECRETS_DIR));
    let secrets = secrets::prepare(valid, dir, env, &read).map_err(|e| match e {
        secrets::SecretError::Missing(diags) => Error::Invalid(validate::Invalid {
            diags,
            sources: std::collections::BTreeMap::from([(
                valid.raw.file.clone(),
                valid.raw.source.clone(),
            )]),
        }),
        secrets::SecretError::Other(m) => Error::Failed(m),
        secrets::SecretError::Refused(e) => e,
    })?;
    for n in &secrets.notes {
        let _ = writeln!(std::io::stderr(), "note: {}", crate::diag::printable(n));
    }
    Ok(secrets)
}

/// One target's files and what holds data in them.
type RenderedTarget = Result<(render::FileSet, crate::state::State), Error>;

fn render_with(
    plan: &plan::Deployment,
    secrets: &secrets::Secrets,
    opts: &RenderOptions,
    templates: &render::Templates,
) -> Result<(render::FileSet, crate::state::State), Error> {
    let mirror = mirror(plan, opts.registry_mirror.as_deref())?;
    let mirror = mirror.as_deref();
    let mut files = render::FileSet::new();
    for (path, bytes) in secrets.files() {
        render::add_secret(&mut files, path, bytes);
    }
    let flavor = opts
        .flavor
        .or(plan.targets.spec.systemd.flavor)
        .unwrap_or_default();
    // What a target cannot carry is refused before any of it is rendered, with the secrets it
    // would write: the first target's refusals, in the order compose, Kubernetes, systemd.
    for (t, target) in [
        (cli::Target::Compose, plan::refusals::Target::Compose),
        (cli::Target::Kubernetes, plan::refusals::Target::Kubernetes),
        (
            cli::Target::Systemd,
            plan::refusals::Target::Systemd(flavor),
        ),
    ] {
        if opts.target.covers(t) {
            let diags = plan::refusals::refusals(plan, target, &|s| secrets.text(s));
            if !diags.is_empty() {
                return Err(Error::Invalid(plan.locator.invalid(diags)));
            }
        }
    }
    // The targets share nothing but what they read, so they render at once, one thread each;
    // their files are merged, and the first error returned, in the order a sequential render had.
    let results: Vec<RenderedTarget> = std::thread::scope(|scope| {
        let jobs: Vec<std::thread::ScopedJoinHandle<'_, RenderedTarget>> = [
            cli::Target::Compose,
            cli::Target::Kubernetes,
            cli::Target::Systemd,
        ]
        .into_iter()
        .filter(|t| opts.target.covers(*t))
        .map(|t| {
            scope.spawn(move || {
                let mut out = render::FileSet::new();
                let mut state = crate::state::State::default();
                match t {
                    cli::Target::Compose => {
                        render::compose::render(
                            plan, secrets, templates, mirror, &mut out, &mut state,
                        )?;
                    }
                    cli::Target::Kubernetes => {
                        render::kubernetes::render(
                            plan, secrets, templates, mirror, &mut out, &mut state,
                        )?;
                    }
                    _ => {
                        render::systemd::render(
                            plan, secrets, templates, mirror, flavor, &mut out, &mut state,
                        )?;
                    }
                }
                Ok((out, state))
            })
        })
        .collect();
        jobs.into_iter()
            .map(|j| {
                j.join()
                    .unwrap_or_else(|_| Err(Error::Internal("a renderer panicked".into())))
            })
            .collect()
    });
    let mut state = crate::state::State::default();
    for r in results {
        let (f, s) = r?;
        files.extend(f);
        state.compose = state.compose.or(s.compose);
        state.kubernetes = state.kubernetes.or(s.kubernetes);
        state.systemd = state.systemd.or(s.systemd);
    }
    let mut images = plan::images(plan, mirror, rendered(opts.target)).join("\n");
    images.push('\n');
    render::add(&mut files, "images.txt", images, 0o644);
    Ok((files, state))
}

/// What `render` would refuse for any target (a name too long for Kubernetes, a value a unit
/// cannot carry, a Pod Security level the pods cannot meet), decided on the deployment model for
/// every target and every systemd flavour with stand-in secrets ([`secrets::placeholders`]):
/// nothing is rendered, read from or written to an output directory, and every problem comes
/// back at once with its position.
pub fn check_renderable(valid: &validate::Valid) -> Result<(), Error> {
    // Stand-ins for every secret: nothing read, generated or taken from the environment.
    let secrets = secrets::placeholders(valid);
    let d = &valid.deployment;
    let mut diags = Vec::new();
    let mut seen = std::collections::HashSet::new();
    // The podman and docker flavours refuse a subset of what Quadlet does (Quadlet adds its
    // version and its `.volume` keys), so Quadlet stands for the three.
    for target in [
        plan::refusals::Target::Compose,
        plan::refusals::Target::Kubernetes,
        plan::refusals::Target::Systemd(spec::model::Flavor::Quadlet),
    ] {
        // The same problem found by several targets is reported once.
        for x in plan::refusals::refusals(d, target, &|s| secrets.text(s)) {
            if seen.insert(x.clone()) {
                diags.push(x);
            }
        }
    }
    if diags.is_empty() {
        return Ok(());
    }
    diags.sort_by(|a, b| (&a.file, a.pos).cmp(&(&b.file, b.pos)));
    Err(Error::Invalid(d.locator.invalid(diags)))
}

/// Which targets that pull images of their own `target` renders.
pub(crate) fn rendered(target: cli::Target) -> plan::Rendered {
    plan::Rendered {
        compose: target.covers(cli::Target::Compose),
        kubernetes: target.covers(cli::Target::Kubernetes),
    }
}

/// Removes a directory on drop if it is (still) empty: the one a failed render created to lock.
struct RemoveIfEmpty(std::path::PathBuf);

impl Drop for RemoveIfEmpty {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}
