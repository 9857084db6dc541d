//! What a bundle being made leaves beside its `--out` (the staging directory, the archive not yet
//! renamed) is removed when misp-gen is stopped by SIGINT, SIGTERM or SIGHUP, as it is on an
//! error: one thread waits for those signals, removes every path registered, then ends the
//! process as the signal would have.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};

static PATHS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A path removed if a signal stops misp-gen while the guard lives; dropping it (the work done
/// or cleaned up by its owner) forgets the path.
pub(super) struct Guard(PathBuf);

/// Register `path` (a file or a directory) for removal on SIGINT, SIGTERM or SIGHUP.
pub(super) fn guard(path: &Path) -> Guard {
    install();
    if let Ok(mut p) = PATHS.lock() {
        p.push(path.to_path_buf());
    }
    Guard(path.to_path_buf())
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(mut p) = PATHS.lock()
            && let Some(i) = p.iter().position(|x| *x == self.0)
        {
            p.swap_remove(i);
        }
    }
}

fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        // Without the handler (it cannot be installed) a signal leaves the staging as before.
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
            return;
        };
        std::thread::spawn(move || {
            if let Some(sig) = signals.forever().next() {
                // Held to the end: no new path is registered, none forgotten, while removing.
                let paths = PATHS.lock();
                if let Ok(paths) = &paths {
                    for p in paths.iter() {
                        let _ = if p.is_dir() {
                            std::fs::remove_dir_all(p)
                        } else {
                            std::fs::remove_file(p)
                        };
                    }
                }
                let _ = signal_hook::low_level::emulate_default_handler(sig);
                std::process::exit(128 + sig);
            }
        });
    });
}
