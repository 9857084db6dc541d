//! A service's mounts: one source each, a container path, and the volume, file or secret it names.

use std::collections::BTreeSet;

use super::{Ctx, help, seg, undefined};
use crate::diag::Code;
use crate::spec::model::{Mount, Spec, TLS_FILES};

#[expect(clippy::too_many_lines, reason = "a flat list of mount rules")]
pub(super) fn mount(cx: &mut Ctx<'_>, spec: &Spec, mp: &str, m: &Mount) {
    let n = usize::from(m.volume.is_some())
        + usize::from(m.secret.is_some())
        + usize::from(m.file.is_some())
        + usize::from(m.scratch);
    if n != 1 {
        let d = cx.at(
            mp,
            Code::MountSource,
            "a mount needs exactly one of `volume`, `secret`, `file` or `scratch: true`",
        );
        help(d, "split it into one mount per source");
        return;
    }
    if m.path.trim_end_matches('/').is_empty() {
        let d = cx.at(
            &format!("{mp}/path"),
            Code::MountSource,
            "a mount at `/` would hide the whole image",
        );
        help(d, "mount at a directory inside the container, e.g. `/data`");
    } else if !m.path.starts_with('/')
        || m.path.split('/').any(|s| s == "..")
        || m.path.contains(['\n', ':', ','])
    {
        let d = cx.at(
            &format!("{mp}/path"),
            Code::MountSource,
            format!("`{}` is not an absolute container path", m.path),
        );
        help(d, "paths start with `/` and hold no `..`, `:` or `,`");
    }
    if let Some(v) = &m.volume
        && !spec.volumes.contains_key(v)
    {
        undefined(
            cx,
            &format!("{mp}/volume"),
            Code::UndefinedVolume,
            "volume",
            v,
            spec.volumes.keys(),
        );
    }
    if let Some(f) = &m.file
        && !spec.files.contains_key(f)
    {
        undefined(
            cx,
            &format!("{mp}/file"),
            Code::UndefinedFile,
            "file",
            f,
            spec.files.keys(),
        );
    }
    if m.read_only && m.volume.is_none() {
        cx.at_key(
            &format!("{mp}/read_only"),
            Code::MountSource,
            "`read_only` applies to volume mounts (secret and file mounts are always read-only)",
        );
    }
    if !m.items.is_empty() && m.secret.is_none() {
        cx.at_key(
            &format!("{mp}/items"),
            Code::BadSecretItem,
            "`items` applies only to secret mounts",
        );
    }
    if let Some(s) = &m.secret {
        match spec.secrets.get(s) {
            None => undefined(
                cx,
                &format!("{mp}/secret"),
                Code::UndefinedSecret,
                "secret",
                s,
                spec.secrets.keys(),
            ),
            Some(secret_def) => {
                let files: Vec<String> = if secret_def.is_tls() {
                    TLS_FILES.iter().map(|f| (*f).to_owned()).collect()
                } else {
                    vec![s.clone()]
                };
                let mut targets = BTreeSet::new();
                for (from, to) in &m.items {
                    let ip = format!("{mp}/items/{}", seg(from));
                    if !files.contains(from) {
                        let d = cx.at_key(
                            &ip,
                            Code::BadSecretItem,
                            format!("secret `{s}` has no file `{from}`"),
                        );
                        help(d, format!("its files: {}", files.join(", ")));
                    }
                    if to.is_empty()
                        || to.contains('/')
                        || to == "."
                        || to == ".."
                        || to.starts_with("..")
                        || to.contains(char::is_control)
                    {
                        cx.at(
                            &ip,
                            Code::BadSecretItem,
                            format!("`{to}` is not a plain file name"),
                        );
                    } else if !targets.insert(to.as_str()) {
                        cx.at(
                            &ip,
                            Code::BadSecretItem,
                            format!("two items are renamed to `{to}`"),
                        );
                    }
                }
            }
        }
    }
}
