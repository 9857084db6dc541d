//! Names the commit a binary was built from, for `misp-gen --version`: `git rev-parse` in a
//! checkout, `$MISP_GEN_COMMIT` where there is none (a source archive, a distribution's build),
//! else `unknown`.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_owned())
}

fn main() {
    println!("cargo:rerun-if-env-changed=MISP_GEN_COMMIT");
    let commit = std::env::var("MISP_GEN_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            // Rebuild when HEAD moves: HEAD itself, the branch it names, and packed refs.
            for path in ["HEAD", "packed-refs"]
                .into_iter()
                .map(str::to_owned)
                .chain(git(&["symbolic-ref", "-q", "HEAD"]))
            {
                if let Some(p) = git(&["rev-parse", "--git-path", &path])
                    && std::path::Path::new(&p).exists()
                {
                    println!("cargo:rerun-if-changed={p}");
                }
            }
            git(&["rev-parse", "--short=12", "HEAD"])
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=MISP_GEN_COMMIT={commit}");
}
