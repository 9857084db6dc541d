//! Object and pod-local names: the names objects are made under, checked as Kubernetes reads
//! them, and the label values they carry.

pub use crate::plan::naming::{KubernetesNaming, dns, local_name};

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
