//! Kustomize: the Secret of each spec secret (a generator over its files under
//! `secrets/kubernetes/`), the two kustomizations whose generators make the Secrets and
//! `ConfigMap`s, and the writing of every file.

use std::collections::BTreeMap;

use super::model::{Generator, KustomizationCtx, SecretsKustomizationCtx, kvs};
use super::{MANAGED_BY, Out};
use crate::error::Error;
use crate::render::{FileSet, add, add_secret};

/// Where the manifests go.
const DIR: &str = "kubernetes";
/// Where the secret kustomization and the files it reads go.
const SECRETS_DIR: &str = "secrets/kubernetes";

impl Out<'_> {
    /// The Secret that carries spec secret `s` (generated from files under `secrets/kubernetes/`).
    pub(super) fn secret_object(&mut self, s: &str) -> String {
        let name = self.naming.object(s);
        if self.secret_gens.contains_key(&name) {
            return name;
        }
        let mut g = Generator {
            name: name.clone(),
            kind: None,
            files: Vec::new(),
            envs: Vec::new(),
        };
        if !self.is_tls(s) {
            if let Some(t) = self.secrets.text(s) {
                let rel = format!("values/{s}");
                g.files.push(format!("{s}={rel}"));
                self.secret_files.insert(rel, t.to_owned());
            }
        } else if let Some(tls) = self.secrets.tls(s) {
            g.kind = Some("kubernetes.io/tls");
            for (f, body) in [
                ("ca.crt", &tls.ca_crt),
                ("tls.crt", &tls.tls_crt),
                ("tls.key", &tls.tls_key),
            ] {
                let rel = format!("tls/{s}/{f}");
                g.files.push(format!("{f}={rel}"));
                self.secret_files.insert(rel, body.clone());
            }
        }
        self.secret_gens.insert(name.clone(), g);
        name
    }

    /// Whether `s` is a TLS set, as the spec says ([`crate::spec::model::Secret::is_tls`]).
    pub(super) fn is_tls(&self, s: &str) -> bool {
        self.plan.is_tls(s)
    }
}

/// Write the secret files and their kustomization, the plain files, the kustomization that builds
/// everything, and the manifests.
pub(super) fn render(mut out: Out<'_>, files: &mut FileSet) -> Result<(), Error> {
    let (plan, templates) = (out.plan, out.templates);
    let namespace = out.namespace.clone();
    let mut manifests = std::mem::take(&mut out.manifests);
    // Secrets: the files and their kustomization under secrets/kubernetes/.
    let mut resources: Vec<String> = Vec::new();
    if !out.secret_gens.is_empty() {
        for (rel, body) in &out.secret_files {
            add_secret(files, format!("{SECRETS_DIR}/{rel}"), body.clone());
        }
        let ctx = SecretsKustomizationCtx {
            spec_name: plan.name.clone(),
            namespace: namespace.clone(),
            secrets: std::mem::take(&mut out.secret_gens).into_values().collect(),
        };
        let text = templates.render("kubernetes/secrets-kustomization.yaml.j2", &ctx)?;
        let path = format!("{SECRETS_DIR}/kustomization.yaml");
        templates.check_yaml(&path, &text)?;
        add_secret(files, path, text);
        resources.push("../secrets/kubernetes".into());
    }
    for (rel, (body, mode)) in std::mem::take(&mut out.apart) {
        if std::path::Path::new(&rel)
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("yaml"))
        {
            templates.check_yaml(&format!("{DIR}/{rel}"), &body)?;
        }
        add(files, format!("{DIR}/{rel}"), body, mode);
    }
    for (rel, (body, mode)) in &out.plain_files {
        add(files, format!("{DIR}/files/{rel}"), body.clone(), *mode);
    }
    resources.extend(manifests.keys().cloned());
    resources.sort();
    let ctx = KustomizationCtx {
        spec_name: plan.name.clone(),
        namespace,
        labels: kvs(&BTreeMap::from([
            ("app.kubernetes.io/instance".to_owned(), plan.name.clone()),
            (
                "app.kubernetes.io/managed-by".to_owned(),
                MANAGED_BY.to_owned(),
            ),
        ])),
        resources,
        config_maps: std::mem::take(&mut out.config_gens).into_values().collect(),
    };
    let text = templates.render("kubernetes/kustomization.yaml.j2", &ctx)?;
    manifests.insert("kustomization.yaml".into(), text);
    for (file, text) in manifests {
        let path = format!("{DIR}/{file}");
        templates.check_yaml(&path, &text)?;
        add(files, path, text, 0o644);
    }
    Ok(())
}
