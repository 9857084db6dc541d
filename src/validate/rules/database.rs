//! The `database:` block: embedded or external, its image, volume and password secrets.

use super::images::image_rules;
use super::quantities::{duration, resources};
use super::{Ctx, help, undefined};
use crate::diag::Code;
use crate::domain::engine_image;
use crate::image::ImageRef;
use crate::spec::model::Spec;

#[expect(clippy::too_many_lines, reason = "a flat list of database rules")]
pub(super) fn database(cx: &mut Ctx<'_>, spec: &Spec) {
    let Some(db) = &spec.database else { return };
    let embedded = db.external.is_none();
    if embedded {
        match (&db.version, &db.image) {
            (None, None) => {
                let d = cx.at_key(
                    "/database",
                    Code::DatabaseConfig,
                    "an embedded database needs `version` (the official image's tag) or `image`",
                );
                help(
                    d,
                    "e.g. `version: \"10.11\"`, or `external: { host: … }` to use an existing server",
                );
            }
            (Some(_), Some(_)) => {
                cx.at_key(
                    "/database/image",
                    Code::DatabaseConfig,
                    "give `version` or `image`, not both",
                );
            }
            _ => {}
        }
        if let Some(image) = &db.image {
            image_rules(cx, spec, "/database/image", image);
        }
        if let Some(v) = &db.version {
            let probe = format!("{}:{v}", engine_image(db.engine));
            if ImageRef::parse(&probe).is_err() {
                cx.at(
                    "/database/version",
                    Code::ImageSyntax,
                    format!("`{v}` is not a valid image tag"),
                );
            } else if v == "latest" {
                cx.at(
                    "/database/version",
                    Code::ImageLatest,
                    "`latest` is not a version; name the tag you tested",
                );
            } else {
                image_rules(cx, spec, "/database/version", &probe);
            }
        }
        if let Some(v) = &db.volume
            && !spec.volumes.contains_key(v)
        {
            undefined(
                cx,
                "/database/volume",
                Code::UndefinedVolume,
                "volume",
                v,
                spec.volumes.keys(),
            );
        }
    }
    for (field, secret) in [
        ("password", Some(&db.password)),
        ("root_password", db.root_password.as_ref()),
    ] {
        let Some(secret) = secret else { continue };
        let p = format!("/database/{field}");
        match spec.secrets.get(secret) {
            None => undefined(
                cx,
                &p,
                Code::UndefinedSecret,
                "secret",
                secret,
                spec.secrets.keys(),
            ),
            Some(s) if s.is_tls() => {
                cx.at(
                    &p,
                    Code::UndefinedSecret,
                    format!(
                        "`{secret}` is a tls secret; a database password needs a password secret"
                    ),
                );
            }
            _ => {}
        }
    }
    if db.engine == crate::spec::model::Engine::Postgres && db.root_password.is_some() {
        cx.at_key(
            "/database/root_password",
            Code::DatabaseConfig,
            "postgres has no separate root password; remove `root_password`",
        );
    }
    if let Some(w) = &db.wait {
        for (f, v) in [("timeout", &w.timeout), ("interval", &w.interval)] {
            if let Some(v) = v {
                duration(cx, &format!("/database/wait/{f}"), v);
            }
        }
    }
    if let Some(r) = &db.resources {
        resources(cx, "/database/resources", r);
    }
}
