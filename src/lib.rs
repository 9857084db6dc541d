//! misp-gen: one validated deployment spec in; docker-compose, Kubernetes manifests and systemd
//! units out.

pub mod cli;
pub mod diag;
pub mod error;
pub mod image;
pub mod init;
pub mod output;
pub mod placeholder;
pub mod profile;
pub mod spec;
pub mod units;
pub mod validate;

use std::io::Write as _;

pub use error::Error;

use cli::{Cli, Command};

/// Run one command; what it prints goes to `stdout`, problems come back as the error.
///
/// # Errors
/// The command's failure, with its exit code in [`Error::exit_code`].
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
        } => {
            match validate::validate_file(&spec, profile.as_deref()) {
                Ok(_) => {
                    if format == diag::Format::Json {
                        out(stdout, "[]\n")?;
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
