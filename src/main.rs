//! The `misp-gen` binary: parse the command line, run, map errors to exit codes.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = misp_gen::cli::Cli::parse();
    let mut stdout = std::io::stdout().lock();
    match misp_gen::run(cli, &mut stdout) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = stdout.flush();
            let mut stderr = std::io::stderr().lock();
            match &e {
                misp_gen::Error::Invalid(inv) => {
                    let text = misp_gen::diag::format_all(
                        &inv.diags,
                        misp_gen::diag::Format::Human,
                        &inv.sources,
                    );
                    let _ = stderr.write_all(text.as_bytes());
                }
                other => {
                    // The message may quote the input (a path, a value): one line, escaped
                    // once (what a message escaped itself is left as it is).
                    let _ = writeln!(
                        stderr,
                        "error: {}",
                        misp_gen::diag::one_line(&other.to_string())
                    );
                    if let misp_gen::Error::Io(_, src) = other {
                        let _ = src;
                    }
                }
            }
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
        }
    }
}

/// mimalloc instead of the C library's allocator: validating and rendering a large spec makes
/// hundreds of thousands of small strings, and glibc's malloc, realloc and free were a quarter of
/// the instructions of `validate` on 1 000 services (`benches/versus_podlet.sh`). Built without
/// transparent huge pages (`no_thp`): with them a render of 1 000 services held 116 MB, past the
/// 100 MB bound of `benches/hostile.sh`; without them, 75–80 MB.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
