//! What `bundle push` and `bundle load` share: the bundled spec, validated as it was bundled,
//! and its render at the site.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::verify::Bundle;
use crate::Error;

/// How the site renders after `push` or `load`.
#[derive(Debug, Clone)]
pub struct SiteRender {
    pub out: PathBuf,
    pub pull: Option<crate::spec::model::Pull>,
    pub flavor: Option<crate::spec::model::Flavor>,
}

/// The bundle's spec (and profile), validated as they were bundled.
pub(super) fn bundled_spec(b: &Bundle, tmp: &Path) -> Result<crate::validate::Valid, Error> {
    let spec = tmp.join("spec.yaml");
    let bytes = b
        .archive
        .read("spec.yaml")
        .map_err(|e| Error::Failed(format!("{}: spec.yaml: {e}", b.archive.path.display())))?;
    crate::output::write_atomic(&spec, &bytes, Some(0o600))
        .map_err(|e| Error::Io(format!("cannot write {}", spec.display()), e))?;
    let profile = if b.manifest["profile"]["file"].is_string() {
        let p = tmp.join("profile.yaml");
        let bytes = b.archive.read("profile.yaml").map_err(|e| {
            Error::Failed(format!("{}: profile.yaml: {e}", b.archive.path.display()))
        })?;
        crate::output::write_atomic(&p, &bytes, Some(0o600))
            .map_err(|e| Error::Io(format!("cannot write {}", p.display()), e))?;
        Some(p.to_string_lossy().into_owned())
    } else {
        // A built-in profile by name only: any other name would be read as a path on this
        // machine, a file the bundle does not carry.
        match b.manifest["profile"]["name"].as_str() {
            None => None,
            Some(p @ ("single-node" | "ha")) => Some(p.to_owned()),
            Some(other) => {
                return Err(Error::Failed(format!(
                    "{}: bundle.json names the profile `{}` without carrying its file; a bundle names `single-node` or `ha`, or carries profile.yaml",
                    b.archive.path.display(),
                    super::bounded::shown(other, 100)
                )));
            }
        }
    };
    crate::validate::validate_file(&spec, profile.as_deref())
}

/// Render the bundled spec at the site, its images pinned to `digests` (none: as bundled) and
/// with the site's pull policy; the validated spec itself is never edited.
pub(super) fn site_render(
    valid: &crate::validate::Valid,
    mirror: Option<String>,
    site: &SiteRender,
    digests: BTreeMap<String, String>,
) -> Result<(), Error> {
    let opts = crate::pipeline::RenderOptions {
        allow_state_change: Vec::new(),
        target: crate::cli::Target::All,
        templates: None,
        registry_mirror: mirror,
        flavor: site.flavor,
    };
    crate::pipeline::render_site_to_dir(
        valid,
        &site.out,
        &opts,
        &crate::pipeline::Site {
            digests,
            pull: site.pull,
        },
    )
}
