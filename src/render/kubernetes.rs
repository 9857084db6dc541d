//! The kubernetes target (being built).

use crate::error::Error;
use crate::render::{FileSet, Templates};
use crate::secrets::Secrets;
use crate::validate::Valid;

/// Render the kubernetes target into `files`.
///
/// # Errors
/// Not built yet.
pub fn render(
    _valid: &Valid,
    _secrets: &Secrets,
    _templates: &Templates,
    _mirror: Option<&str>,
    _files: &mut FileSet,
) -> Result<(), Error> {
    Err(Error::Failed(
        "the kubernetes target is not built yet".into(),
    ))
}
