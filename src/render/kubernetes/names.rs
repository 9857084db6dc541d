//! Object and pod-local names: the names objects are made under, checked as Kubernetes reads
//! them, and the label values they carry.

use std::collections::BTreeMap;

use crate::diag::{Code, Diagnostic};
use crate::domain::is_dns_label;

pub use crate::plan::naming::{KubernetesNaming, dns, local_name};

/// Every object name the render makes, checked for DNS-1123, length and collisions; problems are
/// diagnostics on the spec node the name comes from.
pub(super) struct Names<'a> {
    pub(super) locator: &'a crate::plan::Locator,
    pub(super) seen: BTreeMap<(&'static str, String), String>,
    pub(super) diags: Vec<Diagnostic>,
}

impl Names<'_> {
    /// Claim `name` for an object of `kind`, made from the spec node at `pointer`. `max` is the
    /// longest the name may be (63, less where Kubernetes or kustomize append to it); Services'
    /// names must also start with a letter (DNS-1035).
    pub(super) fn claim(&mut self, kind: &'static str, name: &str, pointer: &str, max: usize) {
        let file = self.locator.doc.file.clone();
        let pos = self.locator.doc.key_pos(pointer);
        let diag = |message: String, help: &str| Diagnostic {
            file: file.clone(),
            pos,
            pointer: pointer.to_owned(),
            code: Code::InvalidName,
            message,
            help: Some(help.to_owned()),
        };
        let dns1035 = kind == "Service";
        // The shape first, the length second: a long name of the right shape hears its length.
        let shape = !name.is_empty()
            && is_dns_label(&name[..name.len().min(63)])
            && is_dns_label(&name[name.len().saturating_sub(63)..]);
        if !shape || (dns1035 && !name.starts_with(|c: char| c.is_ascii_lowercase())) {
            self.diags.push(diag(
                format!(
                    "kubernetes: the {kind} name `{name}` is not a DNS-1123 label{}",
                    if dns1035 {
                        " starting with a letter"
                    } else {
                        ""
                    }
                ),
                "object names are `<name>-<thing>`: use a spec name that starts with a letter",
            ));
        } else if name.len() > max {
            self.diags.push(diag(
                format!(
                    "kubernetes: the {kind} name `{name}` is {} characters; at most {max} fit here",
                    name.len()
                ),
                "shorten the spec's `name` or this name",
            ));
        }
        if let Some(first) = self.seen.get(&(kind, name.to_owned())) {
            if first != pointer {
                let msg = format!(
                    "kubernetes: the {kind} name `{name}` is also made from {first} (`_` becomes `-` in object names)"
                );
                self.diags
                    .push(diag(msg, "rename one of them so their object names differ"));
            }
        } else {
            self.seen
                .insert((kind, name.to_owned()), pointer.to_owned());
        }
    }
}

/// A label value: at most 63, alphanumerics and `-_.` inside.
pub(super) fn is_label_value(s: &str) -> bool {
    s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.bytes().next().is_none_or(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_none_or(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    // Pins the pod-local name rules: DNS labels, unique, short enough for a suffix.
    #[test]
    fn local_names() {
        let taken = BTreeSet::from(["secret-tls".to_owned()]);
        assert_eq!(local_name("secret-tls", &taken), "secret-tls-2");
        assert_eq!(
            local_name("scratch-/var/lib", &BTreeSet::new()),
            "scratch-var-lib"
        );
        assert!(local_name(&"x".repeat(80), &BTreeSet::new()).len() <= 56);
    }

    // Pins the label values Kubernetes accepts.
    #[test]
    fn label_values() {
        assert!(is_label_value("v2.5.42"));
        assert!(!is_label_value("1.0 beta"));
    }
}
