//! What the selected profile demands of the spec: an external or replicated database, shared volumes, no host
//! ports on replicated services.

use std::collections::BTreeMap;

use super::{Ctx, help, seg};
use crate::diag::Code;
use crate::domain::replicas;
use crate::profile::{DatabaseRule, Profile};
use crate::spec::model::Spec;

pub(super) fn profile_rules(cx: &mut Ctx<'_>, spec: &Spec, profile: &Profile) {
    let pname = &profile.name;
    if let Some(db) = &spec.database
        && db.external.is_none()
    {
        match profile.rules.database {
            DatabaseRule::External => {
                let d = cx.at_key("/database", Code::ProfileDatabase, format!("profile `{pname}` needs an external database; this one would be deployed by misp-gen"));
                help(
                    d,
                    format!(
                        "add `profiles: {{ {pname}: {{ database: {{ external: {{ host: … }} }} }} }}` to use a managed or replicated server"
                    ),
                );
            }
            DatabaseRule::Replicated if db.cluster.is_none() => {
                let d = cx.at_key("/database", Code::ProfileDatabase, format!("profile `{pname}` needs a replicated database (`external` or `cluster`); this one would be deployed as a single instance"));
                let external = "`… database: { external: { host: … } } …` to use a managed or replicated server";
                let h = if db.engine == crate::spec::model::Engine::Mariadb {
                    format!(
                        "add `profiles: {{ {pname}: {{ database: {{ cluster: {{ members: 3 }} }} }} }}` for a MariaDB Galera cluster, or {external}"
                    )
                } else {
                    format!(
                        "add `profiles: {{ {pname}: {{ database: {{ external: {{ host: … }} }} }} }}` to use a managed or replicated server (`cluster` is mariadb's only)"
                    )
                };
                help(d, h);
            }
            DatabaseRule::Any | DatabaseRule::Replicated => {}
        }
    }
    // Volumes mounted by more than one replica in total.
    if profile.rules.shared_volumes {
        let mut users: BTreeMap<&str, Vec<(String, u32, String)>> = BTreeMap::new();
        for (name, svc) in &spec.services {
            let r = replicas(svc, profile);
            if r == 0 {
                continue;
            }
            for (i, m) in svc.mounts.iter().enumerate() {
                if let Some(v) = &m.volume {
                    users.entry(v.as_str()).or_default().push((
                        name.clone(),
                        r,
                        format!("/services/{}/mounts/{i}/volume", seg(name)),
                    ));
                }
            }
        }
        for (vol, list) in users {
            let total: u32 = list.iter().map(|(_, r, _)| r).sum();
            let Some(def) = spec.volumes.get(vol) else {
                continue;
            };
            if total > 1 && !def.shared {
                let who: Vec<String> = list.iter().map(|(n, r, _)| format!("{n} ×{r}")).collect();
                let d = cx.at_key(&format!("/volumes/{}", seg(vol)), Code::ProfileSharedVolume, format!(
                    "volume `{vol}` is mounted by {total} replicas ({}) under profile `{pname}` but is not `shared: true`",
                    who.join(", ")
                ));
                help(
                    d,
                    "mark it `shared: true` (ReadWriteMany storage such as NFS that supports file locks), or run one replica",
                );
            }
        }
    }
    if !profile.rules.host_ports_on_replicated {
        for (name, svc) in &spec.services {
            if replicas(svc, profile) <= 1 {
                continue;
            }
            for (i, p) in svc.ports.iter().enumerate() {
                if p.publish.is_some() {
                    let d = cx.at(&format!("/services/{}/ports/{i}/publish", seg(name)), Code::ProfileHostPort, format!(
                        "`{name}` runs {} replicas under profile `{pname}`; replicas cannot share a host port",
                        replicas(svc, profile)
                    ));
                    help(d, "remove `publish` and let users in through `edge:`");
                }
            }
        }
    }
}
