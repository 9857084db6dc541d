//! `misp-gen init`: a commented starter spec that validates as written.

use std::io::Write as _;
use std::path::Path;

use crate::error::Error;

const STARTER: &str = include_str!("../examples/starter.yaml");
const MISP: &str = include_str!("../examples/misp.yaml");
const PORTUS: &str = include_str!("../examples/portus.yaml");

/// The text `init` writes.
#[must_use]
pub fn text(example: Option<&str>) -> String {
    let body = match example {
        Some("misp") => MISP,
        Some("portus") => PORTUS,
        _ => STARTER,
    };
    let mut out = String::from(
        "# yaml-language-server: $schema=misp-gen.schema.json\n\
         # Editors with the YAML language server complete and check this file against the schema;\n\
         # write it next to this file with: misp-gen schema > misp-gen.schema.json\n",
    );
    // The examples carry their own schema line; keep one.
    for line in body
        .lines()
        .filter(|l| !l.starts_with("# yaml-language-server:"))
    {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Write the starter spec to `file` (`-`: standard output).
///
/// # Errors
/// Refuses an existing file without `force`; I/O errors.
pub fn run(file: &Path, example: Option<&str>, force: bool) -> Result<String, Error> {
    let body = text(example);
    if file == Path::new("-") {
        std::io::stdout()
            .write_all(body.as_bytes())
            .map_err(|e| Error::Io("cannot write to standard output".into(), e))?;
        return Ok(String::new());
    }
    if file.exists() && !force {
        return Err(Error::Usage(format!(
            "{} already exists; pass --force to overwrite it",
            file.display()
        )));
    }
    crate::output::write_atomic(file, body.as_bytes(), Some(0o644))
        .map_err(|e| Error::Io(format!("cannot write {}", file.display()), e))?;
    Ok(format!(
        "wrote {}; check it with: misp-gen validate {}\n",
        file.display(),
        file.display()
    ))
}
