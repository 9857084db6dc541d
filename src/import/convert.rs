//! The merged compose project into a spec: what is carried, what changes meaning, what is
//! guessed and what is not carried, each reported at its compose `file:line:col`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::tree::{Loc, Node, V};
use crate::diag::{Code, Diagnostic};

/// What the conversion needs besides the tree.
pub struct Ctx<'a> {
    /// Display names of the input files, by index.
    pub files: &'a [String],
    /// The project environment (process environment over the env files).
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
    /// Where relative paths (`env_file`, secret and config files) are resolved: the first file's directory.
    pub project_dir: PathBuf,
    /// Compose profiles enabled (`COMPOSE_PROFILES`, `--compose-profile`).
    pub profiles: BTreeSet<String>,
    /// The compose project name, as Compose derives it.
    pub project: String,
}

/// A secret of the spec and the value the compose project held for it, if any.
#[derive(Debug, Clone)]
pub struct HeldSecret {
    pub name: String,
    pub value: Option<String>,
    pub external: bool,
}

/// What the conversion produced.
#[derive(Debug, Default)]
pub struct Converted {
    pub spec: Value,
    pub comments: BTreeMap<String, Vec<String>>,
    pub report: Vec<Diagnostic>,
    pub errors: Vec<Diagnostic>,
    pub secrets: Vec<HeldSecret>,
    /// Scalars whose text is a secret value: masked in the sources the report shows.
    pub masked: Vec<Loc>,
    /// Files read on the way (`env_file`): display name → nothing shown (they hold values).
    pub read_files: Vec<String>,
}

const DB_IMAGES: [(&str, &str); 3] = [
    ("mariadb", "mariadb"),
    ("mysql", "mysql"),
    ("postgres", "postgres"),
];

struct Conv<'a> {
    cx: &'a Ctx<'a>,
    out: Converted,
    /// Compose service name → spec service name (`database` for the database).
    names: BTreeMap<String, String>,
    db_service: Option<String>,
    /// Secret value → secret name, so one value is one secret.
    by_value: BTreeMap<String, String>,
    secrets: Map<String, Value>,
    volumes: Map<String, Value>,
    files: Map<String, Value>,
    /// Compose volume name → spec volume name.
    volume_names: BTreeMap<String, String>,
    top_volumes: Option<Node>,
    top_secrets: Option<Node>,
    top_configs: Option<Node>,
}

/// Convert the merged project.
#[must_use]
pub fn convert(root: &Node, cx: &Ctx<'_>) -> Converted {
    let mut c = Conv {
        cx,
        out: Converted::default(),
        names: BTreeMap::new(),
        db_service: None,
        by_value: BTreeMap::new(),
        secrets: Map::new(),
        volumes: Map::new(),
        files: Map::new(),
        volume_names: BTreeMap::new(),
        top_volumes: root.get("volumes").cloned(),
        top_secrets: root.get("secrets").cloned(),
        top_configs: root.get("configs").cloned(),
    };
    c.run(root);
    c.out
}

/// A variable whose value is taken for a secret: its name holds PASSWORD, PASSWD or SECRET, or
/// ends in `_KEY` or `_TOKEN`; never a `…_FILE` variable (that holds a path).
/// A database command line as `database.settings`: `--name=value` options of mariadb and mysql
/// (after an optional `mariadbd`/`mysqld`), `-c name=value` pairs of postgres (after an optional
/// `postgres`). Anything else, or a setting misp-gen decides, and none is carried.
fn db_settings(engine: &str, words: &[String]) -> Result<Map<String, Value>, String> {
    use crate::spec::model::Engine;
    let (eng, server): (Engine, &[&str]) = match engine {
        "postgres" => (Engine::Postgres, &["postgres"]),
        "mysql" => (Engine::Mysql, &["mysqld"]),
        _ => (Engine::Mariadb, &["mariadbd", "mysqld"]),
    };
    let mut words = words.iter().map(String::as_str).peekable();
    if words.peek().is_some_and(|w| server.contains(w)) {
        words.next();
    }
    let mut out = Map::new();
    let name_ok = |k: &str| {
        !k.is_empty()
            && k.len() <= 64
            && k.starts_with(|c: char| c.is_ascii_lowercase())
            && k.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'_'
                    || (b == b'-' && eng != Engine::Postgres)
                    || (b == b'.' && eng == Engine::Postgres)
            })
    };
    while let Some(w) = words.next() {
        let pair = match eng {
            Engine::Postgres if w == "-c" => words.next().and_then(|p| p.split_once('=')),
            Engine::Postgres => None,
            _ => w.strip_prefix("--").and_then(|p| p.split_once('=')),
        };
        let Some((k, v)) = pair else {
            return Err(format!(
                "`{w}` is not a server option the spec can carry (`--name=value` for mariadb and mysql, `-c name=value` for postgres)"
            ));
        };
        if !name_ok(k) || v.is_empty() || v.chars().any(char::is_control) {
            return Err(format!(
                "`{k}` is not a setting name and value the spec can carry"
            ));
        }
        if let Some(why) = crate::domain::reserved_setting(eng, k) {
            return Err(format!("`{k}` is a setting misp-gen decides: {why}"));
        }
        out.insert(k.to_owned(), json!(v));
    }
    Ok(out)
}

fn is_secret_name(k: &str) -> bool {
    let u = k.to_ascii_uppercase();
    !u.ends_with("_FILE")
        && (["PASSWORD", "PASSWD", "SECRET"]
            .iter()
            .any(|s| u.contains(s))
            || u.ends_with("_KEY")
            || u.ends_with("_TOKEN"))
}

/// `${` is the spec's placeholder: a literal one is written `$${`.
fn escape(s: &str) -> String {
    s.replace("${", "$${")
}

/// A spec name (services: DNS-1123 label; volumes and secrets: also `_`).
fn spec_name(s: &str, underscore: bool) -> String {
    let out: String = s
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || (underscore && c == '_') || c == '-' {
                c
            } else if underscore {
                '_'
            } else {
                '-'
            }
        })
        .collect();
    let mut out = out
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned();
    out.truncate(63);
    while out.ends_with(['-', '_']) {
        out.pop();
    }
    if out.is_empty() { "x".to_owned() } else { out }
}

impl Conv<'_> {
    fn diag(
        &self,
        at: &Loc,
        on_key: bool,
        code: Code,
        message: String,
        help: Option<String>,
    ) -> Diagnostic {
        Diagnostic {
            file: self.cx.files.get(at.file).cloned().unwrap_or_default(),
            pos: if on_key { at.key } else { at.pos },
            pointer: at.ptr.clone(),
            code,
            message,
            help,
        }
    }

    fn note(&mut self, at: &Loc, code: Code, message: String, help: Option<&str>) {
        let d = self.diag(at, true, code, message, help.map(str::to_owned));
        self.out.report.push(d);
    }

    fn error(&mut self, at: &Loc, code: Code, message: String, help: Option<&str>) {
        let d = self.diag(at, false, code, message, help.map(str::to_owned));
        self.out.errors.push(d);
    }

    fn not_carried(&mut self, at: &Loc, what: &str, why: &str, help: Option<&str>) {
        self.note(
            at,
            Code::NoteNotCarried,
            format!("`{what}` not carried: {why}"),
            help,
        );
    }

    fn comment(&mut self, ptr: String, line: String) {
        self.out.comments.entry(ptr).or_default().push(line);
    }

    #[expect(
        clippy::too_many_lines,
        reason = "the top level in the order of the spec"
    )]
    fn run(&mut self, root: &Node) {
        for (k, n) in root.entries() {
            match k.as_str() {
                "services" | "volumes" | "secrets" | "configs" | "name" => {}
                "version" => self.note(
                    &n.at,
                    Code::NoteChanged,
                    "`version` is obsolete in the Compose Specification; the spec has `apiVersion: misp-gen/v1`".into(),
                    None,
                ),
                "networks" => self.not_carried(
                    &n.at,
                    "networks",
                    "misp-gen gives the deployment one network of its own (a namespace on Kubernetes, a network on systemd) and every service reaches the others by name",
                    Some("nothing to do unless a service must join a network outside the stack, which the spec cannot say yet"),
                ),
                "include" => self.not_carried(
                    &n.at,
                    "include",
                    "included projects are not read",
                    Some("pass the included files as further COMPOSE files instead"),
                ),
                x if x.starts_with("x-") => self.note(
                    &n.at,
                    Code::NoteChanged,
                    format!("extension `{x}`: used where its anchors are referenced, not carried itself"),
                    None,
                ),
                other => self.not_carried(&n.at, other, "not a key the Compose Specification has", None),
            }
        }
        let Some(services) = root.get("services") else {
            self.error(
                &root.at,
                Code::ComposeFile,
                "no `services:`: nothing to import".into(),
                Some("a compose file lists its containers under `services:`"),
            );
            return;
        };
        if !services.is_map() || services.entries().is_empty() {
            self.error(
                &services.at,
                Code::ComposeFile,
                format!(
                    "`services` is {}, not a mapping of services",
                    services.kind()
                ),
                None,
            );
            return;
        }
        // Which services are carried: those without profiles or with an enabled one.
        let mut carried: Vec<(&String, &Node)> = Vec::new();
        for (name, svc) in services.entries() {
            if !svc.is_map() {
                self.error(
                    &svc.at,
                    Code::ComposeFile,
                    format!("service `{name}` is {}, not a mapping", svc.kind()),
                    None,
                );
                continue;
            }
            let profiles: Vec<String> = svc
                .get("profiles")
                .map(|p| p.items().iter().filter_map(Node::text).collect())
                .unwrap_or_default();
            if !profiles.is_empty()
                && !profiles
                    .iter()
                    .any(|p| self.cx.profiles.contains(p) || self.cx.profiles.contains("*"))
            {
                let at = svc.at.clone();
                self.note(
                    &at,
                    Code::NoteProfileOff,
                    format!(
                        "service `{name}` is in the compose profile{} {}, which is not enabled: not carried",
                        if profiles.len() == 1 { "" } else { "s" },
                        profiles.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
                    ),
                    Some("enable it with --compose-profile NAME (or COMPOSE_PROFILES) to carry it"),
                );
                continue;
            }
            carried.push((name, svc));
        }
        // The database: the first official mariadb, mysql or postgres image.
        for (name, svc) in &carried {
            if self.db_service.is_none() && db_engine(svc).is_some() && self.database_fits(svc) {
                self.db_service = Some((*name).clone());
                self.names.insert((*name).clone(), "database".into());
            }
        }
        let mut taken: BTreeSet<String> = BTreeSet::from(["database".to_owned()]);
        for (name, svc) in &carried {
            if self.names.contains_key(*name) {
                continue;
            }
            let new = spec_name(name, false);
            if !taken.insert(new.clone()) {
                self.error(
                    &svc.at,
                    Code::CannotImport,
                    format!("service `{name}` would be named `{new}` in the spec, which another service already is"),
                    Some("rename one of them in the compose file"),
                );
                continue;
            }
            if new != **name {
                let at = svc.at.clone();
                self.note(
                    &at,
                    Code::NoteChanged,
                    format!("service `{name}` is `{new}` in the spec: service names are DNS labels there (lowercase letters, digits, `-`)"),
                    Some("values that name it as a host were rewritten where they were recognised (reported); check the others"),
                );
            }
            self.names.insert((*name).clone(), new);
        }
        let mut spec_services = Map::new();
        // The database first (its secrets get the database's names), then every secret value
        // of every service, so that a value met anywhere (a command, a URL) is known as one.
        let mut database = None;
        for (name, svc) in &carried {
            if self.db_service.as_deref() == Some(name.as_str()) {
                database = self.database(name, svc);
            }
        }
        for (name, svc) in &carried {
            if self.db_service.as_deref() == Some(name.as_str()) {
                continue;
            }
            for (k, v, at) in self.env_entries(svc, &mut Vec::new()) {
                if let Some(v) = v
                    && is_secret_name(&k)
                    && !v.is_empty()
                {
                    self.secret_for(&k, &v, &at, None);
                }
            }
        }
        for (name, svc) in &carried {
            let Some(new) = self.names.get(*name).cloned() else {
                continue;
            };
            if self.db_service.as_deref() != Some(name.as_str())
                && let Some(s) = self.service(name, &new, svc)
            {
                spec_services.insert(new, Value::Object(s));
            }
        }
        self.check_cycles(&spec_services, services);
        self.downgrade_waits(&mut spec_services, services);
        let compose_name = root.get("name");
        let name = spec_name(&self.cx.project, false);
        let mut spec = Map::new();
        spec.insert("apiVersion".into(), json!("misp-gen/v1"));
        spec.insert("name".into(), json!(name));
        if let Some(n) = compose_name {
            self.note(
                &n.at,
                Code::NoteChanged,
                format!("project name `{}` is the spec's `name: {name}` and `targets.compose.project`, so that docker compose finds the volumes it made before", self.cx.project),
                None,
            );
        }
        if !self.secrets.is_empty() {
            spec.insert(
                "secrets".into(),
                Value::Object(std::mem::take(&mut self.secrets)),
            );
        }
        if !self.volumes.is_empty() {
            spec.insert(
                "volumes".into(),
                Value::Object(std::mem::take(&mut self.volumes)),
            );
        }
        if let Some(db) = database {
            spec.insert("database".into(), Value::Object(db));
        }
        spec.insert("services".into(), Value::Object(spec_services));
        if !self.files.is_empty() {
            spec.insert(
                "files".into(),
                Value::Object(std::mem::take(&mut self.files)),
            );
        }
        spec.insert(
            "targets".into(),
            json!({ "compose": { "project": compose_project(&self.cx.project) } }),
        );
        self.comment(
            "/targets".into(),
            "The compose project keeps its old name: `docker compose` then reuses the volumes the old stack made.".into(),
        );
        if let Some(top) = self.top_volumes.clone() {
            for (k, v) in top.entries() {
                if !self.volume_names.contains_key(k) {
                    self.not_carried(
                        &v.at,
                        &format!("volumes.{k}"),
                        "no carried service mounts it",
                        None,
                    );
                }
            }
        }
        self.out.spec = Value::Object(spec);
    }

    fn database_fits(&self, svc: &Node) -> bool {
        let Some(engine) = db_engine(svc) else {
            return false;
        };
        let env = self.plain_env(svc);
        if engine == "postgres" {
            return true;
        }
        let get = |a: &str, b: &str| {
            env.get(a)
                .or_else(|| env.get(b))
                .is_some_and(|v| !v.is_empty())
        };
        get("MARIADB_DATABASE", "MYSQL_DATABASE") && get("MARIADB_USER", "MYSQL_USER")
    }

    /// A service's environment as Compose resolves it: `env_file` first, `environment` over it.
    fn plain_env(&self, svc: &Node) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for (k, v, _) in self.env_entries(svc, &mut Vec::new()) {
            if let Some(v) = v {
                env.insert(k, v);
            }
        }
        env
    }

    /// (name, value, where) of every variable: `env_file` entries, then `environment` entries.
    /// A `None` value is one that is unset. Problems reading env files go to `errors`.
    fn env_entries(
        &self,
        svc: &Node,
        errors: &mut Vec<Diagnostic>,
    ) -> Vec<(String, Option<String>, Loc)> {
        let mut out: Vec<(String, Option<String>, Loc)> = Vec::new();
        if let Some(ef) = svc.get("env_file") {
            let list: Vec<(String, bool, Loc)> = match &ef.v {
                V::Str(s) => vec![(s.clone(), true, ef.at.clone())],
                V::Seq(items) => items
                    .iter()
                    .filter_map(|i| match &i.v {
                        V::Str(s) => Some((s.clone(), true, i.at.clone())),
                        V::Map(_) => i.get("path").and_then(Node::text).map(|p| {
                            (
                                p,
                                i.get("required").and_then(Node::as_bool).unwrap_or(true),
                                i.at.clone(),
                            )
                        }),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            for (path, required, at) in list {
                let full = self.cx.project_dir.join(&path);
                let bytes = match crate::spec::load::read_input(&full) {
                    Ok(b) => b,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => continue,
                    Err(e) => {
                        errors.push(self.diag(
                            &at,
                            false,
                            Code::ComposeFile,
                            format!("env_file `{path}` cannot be read: {e}"),
                            None,
                        ));
                        continue;
                    }
                };
                let Ok(text) = String::from_utf8(bytes) else {
                    errors.push(self.diag(
                        &at,
                        false,
                        Code::ComposeFile,
                        format!("env_file `{path}` is not UTF-8 text"),
                        None,
                    ));
                    continue;
                };
                match super::interp::parse_env_file(&text, self.cx.lookup) {
                    Ok(vars) => {
                        for v in vars {
                            out.retain(|(k, _, _)| *k != v.name);
                            out.push((v.name, Some(v.value), at.clone()));
                        }
                    }
                    Err(e) => errors.push(self.diag(
                        &at,
                        false,
                        Code::ComposeFile,
                        format!("env_file `{path}`, line {}: {}", e.line, e.failure.message),
                        e.failure.help,
                    )),
                }
            }
        }
        for (k, v) in svc
            .get("environment")
            .map(Node::entries)
            .unwrap_or_default()
        {
            let value = match &v.v {
                V::Null => (self.cx.lookup)(k),
                _ => v.text(),
            };
            out.retain(|(e, _, _)| e != k);
            out.push((k.clone(), value, v.at.clone()));
        }
        out
    }

    /// The secret for `value` (one secret per value), named after `key` unless the value has one.
    fn secret_for(&mut self, key: &str, value: &str, at: &Loc, preferred: Option<&str>) -> String {
        if let Some(n) = self.by_value.get(value) {
            return n.clone();
        }
        let mut name = spec_name(preferred.unwrap_or(key), true);
        let mut i = 2;
        while self.secrets.contains_key(&name) {
            name = format!("{}_{i}", spec_name(preferred.unwrap_or(key), true));
            i += 1;
        }
        self.secrets.insert(
            name.clone(),
            json!({ "generate": "password", "length": 32 }),
        );
        self.comment(
            format!("/secrets/{name}"),
            format!("The compose project held a value for it (from `{key}`): `--keep-secrets DIR` writes it to DIR/secrets/{name}, which `render --out DIR` keeps; without it a new password is generated."),
        );
        self.by_value.insert(value.to_owned(), name.clone());
        self.out.secrets.push(HeldSecret {
            name: name.clone(),
            value: Some(value.to_owned()),
            external: false,
        });
        self.out.masked.push(at.clone());
        name
    }

    /// The optional external secret for the empty secret-like variable `key`: one per name.
    fn optional_secret(&mut self, key: &str) -> String {
        let want = json!({ "external": true, "optional": true });
        let base = spec_name(key, true);
        let mut name = base.clone();
        let mut i = 2;
        while self.secrets.get(&name).is_some_and(|s| *s != want) {
            name = format!("{base}_{i}");
            i += 1;
        }
        if !self.secrets.contains_key(&name) {
            self.secrets.insert(name.clone(), want);
            self.comment(
                format!("/secrets/{name}"),
                format!("Empty in the compose project (`{key}`): optional, so `render` uses the empty value unless MISP_GEN_SECRET_{} or OUT/secrets/{name} gives one.", name.to_ascii_uppercase()),
            );
        }
        name
    }

    /// Replace every known secret value inside `text` by its placeholder.
    fn hide_secrets(&self, text: &str) -> (String, bool) {
        let mut t = text.to_owned();
        let mut any = false;
        // Longest first, so that a value holding another is replaced whole.
        let mut vals: Vec<(&String, &String)> =
            self.by_value.iter().filter(|(v, _)| v.len() >= 4).collect();
        vals.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
        for (v, name) in vals {
            if t.contains(v.as_str()) {
                t = t.replace(v.as_str(), &format!("\u{0}{name}\u{1}"));
                any = true;
            }
        }
        (t, any)
    }

    #[expect(
        clippy::too_many_lines,
        reason = "one arm per compose key of a database service"
    )]
    fn database(&mut self, name: &str, svc: &Node) -> Option<Map<String, Value>> {
        let engine = db_engine(svc)?;
        let image = svc.get("image")?.as_str()?.to_owned();
        let mut db = Map::new();
        db.insert("engine".into(), json!(engine));
        let (repo, tag) = split_image(&image);
        let at = svc.at.clone();
        match tag {
            Some(t) if official(repo) && t != "latest" => {
                db.insert("version".into(), json!(t));
            }
            Some(t) if t != "latest" => {
                db.insert("image".into(), json!(image));
            }
            _ => {
                let iat = svc.get("image").map_or(at.clone(), |i| i.at.clone());
                self.error(
                    &iat,
                    Code::CannotImport,
                    format!("database image `{image}` has no pinned tag"),
                    Some("pin a tag (e.g. `mariadb:10.11`) in the compose file or its .env"),
                );
                return None;
            }
        }
        // Images bake in the compose name of their database (`db`): the database keeps answering
        // to it on every target where the name can be a host name there.
        let hostname = (name != crate::domain::DATABASE
            && name.len() <= 63
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && !name.ends_with('-')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
        .then(|| name.to_owned());
        let reached = hostname.as_deref().unwrap_or(crate::domain::DATABASE);
        if let Some(h) = &hostname {
            db.insert("hostname".into(), json!(h));
        }
        self.note(
            &at,
            Code::NoteGuess,
            format!("service `{name}` runs the official {engine} image: it becomes the spec's `database:` (reached as `${{database.host}}`, which is `{reached}` on every target{})", if hostname.is_some() { ": `database.hostname` keeps the compose name" } else { "" }),
            Some("references to it by its compose name in other services' env were rewritten where recognised (reported)"),
        );
        self.comment(
            "/database".into(),
            format!("From compose service `{name}` ({image})."),
        );
        let mut errors = Vec::new();
        let env = self.env_entries(svc, &mut errors);
        self.out.errors.extend(errors);
        let (name_keys, user_keys, pw_keys, root_keys): (&[&str], &[&str], &[&str], &[&str]) =
            if engine == "postgres" {
                (
                    &["POSTGRES_DB"],
                    &["POSTGRES_USER"],
                    &["POSTGRES_PASSWORD"],
                    &[],
                )
            } else {
                (
                    &["MARIADB_DATABASE", "MYSQL_DATABASE"],
                    &["MARIADB_USER", "MYSQL_USER"],
                    &["MARIADB_PASSWORD", "MYSQL_PASSWORD"],
                    &["MARIADB_ROOT_PASSWORD", "MYSQL_ROOT_PASSWORD"],
                )
            };
        let find = |keys: &[&str]| {
            env.iter()
                .find(|(k, v, _)| {
                    keys.contains(&k.as_str()) && v.as_deref().is_some_and(|v| !v.is_empty())
                })
                .cloned()
        };
        let user = find(user_keys)
            .and_then(|e| e.1)
            .unwrap_or_else(|| "postgres".into());
        let dbname = find(name_keys)
            .and_then(|e| e.1)
            .unwrap_or_else(|| user.clone());
        db.insert("name".into(), json!(escape(&dbname)));
        db.insert("user".into(), json!(escape(&user)));
        let mut consumed: BTreeSet<String> = BTreeSet::new();
        for (field, keys, preferred) in [
            ("password", pw_keys, "db_password"),
            ("root_password", root_keys, "db_root_password"),
        ] {
            if keys.is_empty() {
                continue;
            }
            if let Some((k, Some(v), at)) = find(keys) {
                let s = self.secret_for(&k, &v, &at, Some(preferred));
                self.note(
                    &at,
                    Code::NoteGuess,
                    format!("`{k}` is the database's `{field}`: secret `{s}`"),
                    Some("--keep-secrets DIR keeps the value the compose project held"),
                );
                db.insert(field.into(), json!(s));
                consumed.insert(k);
            } else if field == "password" {
                let s = preferred.to_owned();
                self.secrets
                    .insert(s.clone(), json!({ "generate": "password", "length": 32 }));
                self.note(
                    &at,
                    Code::NoteGuess,
                    format!(
                        "no database password in the compose project: secret `{s}` is generated"
                    ),
                    None,
                );
                db.insert(field.into(), json!(s));
            }
        }
        for (k, v, at) in &env {
            if name_keys.contains(&k.as_str()) || user_keys.contains(&k.as_str()) {
                consumed.insert(k.clone());
                continue;
            }
            if consumed.contains(k) {
                continue;
            }
            match v {
                Some(v) if !crate::domain::reserved_db_env(k) && !is_secret_name(k) => {
                    let e = db.entry("env").or_insert_with(|| json!({}));
                    if let Value::Object(e) = e {
                        e.insert(k.clone(), json!(v));
                    }
                }
                Some(_) => self.not_carried(at, &format!("environment.{k}"), "the spec's `database:` sets the name, the user and the passwords from its own fields", None),
                None => self.not_carried(at, &format!("environment.{k}"), "it takes its value from the environment, where it is not set", Some("set it in .env or the environment and import again, or add it to `database.env`")),
            }
        }
        for (k, n) in svc.entries() {
            match k.as_str() {
                "image" | "environment" | "env_file" | "profiles" => {}
                "volumes" => {
                    for v in n.items() {
                        let m = parse_volume(v);
                        let data = if engine == "postgres" { "/var/lib/postgresql" } else { "/var/lib/mysql" };
                        match m {
                            Some(Mount::Named { source, target, .. }) if target.starts_with(data) && !db.contains_key("volume") => {
                                let vn = self.volume(&source, &v.at);
                                db.insert("volume".into(), json!(vn));
                                if target != data && !(engine == "postgres" && target == "/var/lib/postgresql/data") {
                                    self.note(&v.at, Code::NoteChanged, format!("the data volume is mounted at `{target}` in compose; misp-gen mounts it where the engine keeps its data"), None);
                                }
                            }
                            _ => self.not_carried(&v.at, "volumes", "the spec's database has one data volume; other mounts (init scripts, config files) cannot be said yet", Some("apply them to the database by hand after the first start")),
                        }
                    }
                }
                "healthcheck" => self.note(&n.at, Code::NoteChanged, "the database's health check is misp-gen's own (the engine's client pings the server)".into(), None),
                "restart" => {
                    let text = n.text().unwrap_or_default();
                    let policy = text.split(':').next().unwrap_or_default();
                    if matches!(policy, "no" | "always" | "on-failure" | "unless-stopped") {
                        db.insert("restart".into(), json!(policy));
                        if policy != text {
                            self.note(&n.at, Code::NoteChanged, format!("restart `{text}`: the retry limit is not carried"), None);
                        }
                    } else {
                        self.not_carried(&n.at, "restart", "not a policy Compose has", None);
                    }
                }
                "deploy" => {
                    if let Some(lim) = n.get("resources").and_then(|r| r.get("limits")) {
                        let r = self.resources(lim);
                        if !r.is_empty() {
                            db.insert("resources".into(), Value::Object(r));
                        }
                    }
                    for (dk, dn) in n.entries() {
                        if dk != "resources" {
                            self.not_carried(&dn.at, &format!("deploy.{dk}"), "the database runs as one instance", None);
                        }
                    }
                }
                "ports" => self.not_carried(&n.at, "ports", "the embedded database is reached inside the deployment only; it is not published", Some("connect through `docker compose exec` or a port-forward")),
                "command" => {
                    let words = match &n.v {
                        V::Str(t) => shell_words(t),
                        V::Seq(items) => Some(items.iter().filter_map(Node::text).collect()),
                        V::Null => continue,
                        _ => None,
                    };
                    match words.as_deref().map(|w| db_settings(engine, w)) {
                        Some(Ok(settings)) if !settings.is_empty() => {
                            self.note(&n.at, Code::NoteChanged, "the server's options are `database.settings`: misp-gen gives them on the server's command line, as Compose did".into(), None);
                            db.insert("settings".into(), Value::Object(settings));
                        }
                        Some(Ok(_)) => {}
                        Some(Err(why)) => self.not_carried(&n.at, "command", &why, Some("write the server's options as `database.settings: { name: value }`")),
                        None => self.not_carried(&n.at, "command", "it does not split into words (an unclosed quote)", None),
                    }
                }
                "cap_add" | "cap_drop" => {
                    let caps: Vec<String> = n
                        .items()
                        .iter()
                        .filter_map(Node::text)
                        .map(|t| t.trim_start_matches("CAP_").trim_start_matches("cap_").to_ascii_uppercase())
                        .filter(|c| !(c == "ALL" && k.as_str() == "cap_add"))
                        .collect();
                    if k.as_str() == "cap_add" {
                        self.note(&n.at, Code::NoteChanged, "`cap_add` is `database.security.cap_add`, added to misp-gen's default set for the database (CHOWN, DAC_OVERRIDE, FOWNER, KILL, SETGID, SETUID), which is smaller than Docker's".into(), None);
                    }
                    let sec = db.entry("security").or_insert_with(|| json!({}));
                    if let Value::Object(sec) = sec {
                        sec.insert(k.clone(), json!(caps));
                    }
                }
                other => self.not_carried(&n.at, other, "the spec's `database:` has no such setting", None),
            }
        }
        Some(db)
    }

    fn volume(&mut self, source: &str, at: &Loc) -> String {
        if let Some(v) = self.volume_names.get(source) {
            return v.clone();
        }
        let name = spec_name(source, true);
        let mut spec_vol = Map::new();
        if let Some(decl) = self
            .top_volumes
            .as_ref()
            .and_then(|t| t.get(source))
            .cloned()
        {
            for (k, n) in decl.entries() {
                match k.as_str() {
                    "driver" if n.as_str() == Some("local") => {}
                    "driver_opts" => {
                        let opts: Map<String, Value> = n.entries().iter().filter_map(|(k, v)| v.text().map(|t| (k.clone(), json!(t)))).collect();
                        spec_vol.insert("driver_opts".into(), Value::Object(opts));
                    }
                    "external" if n.as_bool() == Some(true) => self.not_carried(&n.at, "external", "misp-gen creates the volume itself (compose: named after the project), so the data in the existing volume is not used", Some("copy the old volume's data into the new one before the first start (the book's import chapter shows how)")),
                    "name" => self.not_carried(&n.at, "name", "misp-gen names the volume after the project and the spec's volume name", Some("copy the data, or rename the old volume, before the first start")),
                    other => self.not_carried(&n.at, other, "the spec's volumes have a size, `shared` and driver_opts only", None),
                }
            }
        }
        if name != source {
            self.note(at, Code::NoteChanged, format!("volume `{source}` is `{name}` in the spec (lowercase letters, digits, `-`, `_`): on compose its data is not found under the new name"), Some("rename the old volume's data or keep the compose name lowercase"));
        }
        self.volumes.insert(name.clone(), Value::Object(spec_vol));
        self.volume_names.insert(source.to_owned(), name.clone());
        name
    }

    #[expect(
        clippy::too_many_lines,
        reason = "one arm per compose key of a service"
    )]
    fn service(&mut self, cname: &str, name: &str, svc: &Node) -> Option<Map<String, Value>> {
        let mut s = Map::new();
        let sp = format!("/services/{name}");
        self.comment(
            sp.clone(),
            format!(
                "compose service `{cname}` ({}:{}:{})",
                self.cx.files.get(svc.at.file).map_or("", String::as_str),
                svc.at.key.line,
                svc.at.key.col
            ),
        );
        let Some(image) = svc.get("image").and_then(Node::text) else {
            let why = if svc.get("build").is_some() {
                "it is built by Compose (`build:`) and has no `image:`"
            } else {
                "it has no `image:`"
            };
            self.error(
                &svc.at,
                Code::CannotImport,
                format!("service `{cname}` cannot be carried: {why}"),
                Some("build and push the image, then name it with `image:` and a pinned tag"),
            );
            return None;
        };
        let (_, tag) = split_image(&image);
        if tag.is_none() || tag == Some("latest") {
            let at = svc.get("image").map_or(svc.at.clone(), |i| i.at.clone());
            self.error(&at, Code::CannotImport, format!("image `{image}` of service `{cname}` is not pinned (no tag, or `latest`): the spec needs a pinned tag or digest"), Some("pin a tag in the compose file or in its .env (e.g. `nginx:1.27.3`)"));
            return None;
        }
        s.insert("image".into(), json!(image));
        let mut mounts: Vec<Value> = Vec::new();
        let mut mount_paths: BTreeSet<String> = BTreeSet::new();
        let mut security = Map::new();
        let mut ports: Vec<Value> = Vec::new();
        let mut port_names: BTreeSet<String> = BTreeSet::new();
        let mut env_done = false;
        for (k, n) in svc.entries() {
            match k.as_str() {
                "image" => {}
                "build" => self.not_carried(&n.at, "build", "misp-gen deploys images; the spec uses `image:` as it is", Some("build and push the image under that name and tag before deploying")),
                "command" | "entrypoint" => {
                    let words = match &n.v {
                        V::Str(t) => shell_words(t),
                        V::Seq(items) => Some(items.iter().filter_map(Node::text).collect()),
                        V::Null => continue,
                        _ => None,
                    };
                    let Some(words) = words else {
                        self.not_carried(&n.at, k, "it does not split into words (an unclosed quote)", None);
                        continue;
                    };
                    if words.iter().any(|w| self.hide_secrets(w).1) {
                        self.not_carried(&n.at, k, "it holds a secret value, which the spec keeps out of command lines", Some("pass the secret in an env variable and read it in a shell: `command: [sh, -c, 'exec server --password \"$PASSWORD\"']`"));
                        continue;
                    }
                    if let V::Str(_) = n.v {
                        self.note(&n.at, Code::NoteChanged, format!("`{k}` as one string is split into words as Compose splits it (shell quoting, no shell)"), None);
                    }
                    s.insert(k.clone(), json!(words.iter().map(|w| escape(w)).collect::<Vec<_>>()));
                }
                "environment" | "env_file" => {
                    if !env_done {
                        env_done = true;
                        let env = self.env(svc, name);
                        if !env.is_empty() {
                            s.insert("env".into(), Value::Object(env));
                        }
                    }
                    if k == "env_file" {
                        self.note(&n.at, Code::NoteChanged, "env_file: its variables are carried into `env:` (the file itself is not read at deploy time)".into(), None);
                    }
                }
                "ports" | "expose" => {
                    for p in n.items() {
                        self.port(p, k == "expose", &mut ports, &mut port_names);
                    }
                }
                "volumes" => {
                    for v in n.items() {
                        match parse_volume(v) {
                            Some(Mount::Named { source, target, read_only }) => {
                                let vn = self.volume(&source, &v.at);
                                if mount_paths.insert(target.clone()) {
                                    let mut m = json!({ "volume": vn, "path": target });
                                    if read_only {
                                        m["read_only"] = json!(true);
                                    }
                                    mounts.push(m);
                                }
                            }
                            Some(Mount::Anonymous { target }) => {
                                let vn = format!("{}_{}", spec_name(cname, true), spec_name(target.trim_start_matches('/'), true));
                                let vn = self.volume(&vn, &v.at);
                                self.note(&v.at, Code::NoteChanged, format!("anonymous volume at `{target}` becomes the named volume `{vn}`"), None);
                                if mount_paths.insert(target.clone()) {
                                    mounts.push(json!({ "volume": vn, "path": target }));
                                }
                            }
                            Some(Mount::Tmpfs { target }) => {
                                if mount_paths.insert(target.clone()) {
                                    mounts.push(json!({ "scratch": true, "path": target }));
                                }
                            }
                            Some(Mount::Bind { source, target, read_only, selinux }) => {
                                if let Some(why) = crate::domain::host_problem(&source) {
                                    self.not_carried(
                                        &v.at,
                                        &format!("volumes: {source}:{target}"),
                                        &format!("the host path {why}"),
                                        Some("copy the content into a directory the spec can mount (`host: ./NAME`), or into a named volume"),
                                    );
                                } else if mount_paths.insert(target.clone()) {
                                    let mut m = json!({ "host": source, "path": target });
                                    if read_only {
                                        m["read_only"] = json!(true);
                                    }
                                    if let Some(z) = selinux {
                                        m["selinux"] = json!(if z == "Z" { "private" } else { "shared" });
                                    }
                                    mounts.push(m);
                                    if !source.starts_with('/') {
                                        self.note(&v.at, Code::NoteChanged, format!("host path `{source}` is `host: {source}`: relative to the deployment's `host/` directory (OUT/compose/host/ next to compose.yaml; `host/` in the systemd install directory), not to this compose file; copy the directory there"), Some("on Kubernetes it is an empty claim to fill (validate's W109 says how)"));
                                    }
                                }
                            }
                            None => self.not_carried(&v.at, "volumes", "not a volume entry misp-gen reads", None),
                        }
                    }
                }
                "tmpfs" => {
                    let list: Vec<&Node> = match &n.v {
                        V::Seq(items) => items.iter().collect(),
                        _ => vec![n],
                    };
                    for t in list {
                        let Some(text) = t.text() else { continue };
                        let (path, opts) = text.split_once(':').unwrap_or((&text, ""));
                        if !opts.is_empty() {
                            self.note(&t.at, Code::NoteChanged, format!("tmpfs options `{opts}` are not carried: the scratch mount is the target's default size and mode"), None);
                        }
                        if mount_paths.insert(path.to_owned()) {
                            mounts.push(json!({ "scratch": true, "path": path }));
                        }
                    }
                }
                "healthcheck" => {
                    if let Some(h) = self.healthcheck(n) {
                        s.insert("healthcheck".into(), Value::Object(h));
                    }
                }
                "depends_on" => {
                    let mut deps = Map::new();
                    for (d, c) in n.entries() {
                        let Some(target) = self.names.get(d).cloned() else {
                            self.not_carried(&c.at, &format!("depends_on.{d}"), &format!("service `{d}` is not carried"), None);
                            continue;
                        };
                        let cond = c.get("condition").and_then(Node::as_str).unwrap_or("service_started");
                        let spec_cond = match cond {
                            "service_healthy" => "healthy",
                            "service_completed_successfully" => "completed",
                            _ => "started",
                        };
                        for (ck, cn) in c.entries() {
                            if ck == "restart" || (ck == "required" && cn.as_bool() == Some(false)) {
                                self.not_carried(&cn.at, &format!("depends_on.{d}.{ck}"), "the spec's depends_on has a condition only", None);
                            }
                        }
                        deps.insert(target, json!(spec_cond));
                    }
                    if !deps.is_empty() {
                        s.insert("depends_on".into(), Value::Object(deps));
                    }
                }
                "restart" => {
                    let text = n.text().unwrap_or_default();
                    let (policy, said) = match text.split(':').next().unwrap_or("") {
                        "no" => ("no", "compose and systemd do not restart it; Kubernetes restarts every pod of a Deployment whatever it says"),
                        "always" => ("always", "compose `always`; systemd Restart=always; Kubernetes restarts always"),
                        "on-failure" => ("on-failure", "compose `on-failure` without a retry limit; systemd Restart=on-failure; Kubernetes restarts always"),
                        "unless-stopped" => ("unless-stopped", "compose `unless-stopped`; systemd Restart=always; Kubernetes restarts always"),
                        _ => {
                            self.not_carried(&n.at, "restart", "not a policy Compose has", None);
                            continue;
                        }
                    };
                    if text.contains(':') {
                        self.note(&n.at, Code::NoteChanged, format!("restart `{text}`: the retry limit is not carried"), None);
                    }
                    self.note(&n.at, Code::NoteChanged, format!("restart `{policy}` is `restart: {policy}`: {said}"), None);
                    if policy != "unless-stopped" {
                        s.insert("restart".into(), json!(policy));
                    }
                }
                "user" => {
                    if let Some(u) = n.text() {
                        s.insert("user".into(), json!(u));
                    }
                }
                "working_dir" => match n.text() {
                    Some(w) if w.starts_with('/') => {
                        s.insert("working_dir".into(), json!(w));
                    }
                    _ => self.not_carried(&n.at, "working_dir", "not an absolute path", None),
                },
                "read_only" => {
                    if n.as_bool() == Some(true) {
                        security.insert("read_only".into(), json!(true));
                    }
                }
                "deploy" => {
                    for (dk, dn) in n.entries() {
                        match dk.as_str() {
                            "replicas" => {
                                if let V::Num(x) = &dn.v {
                                    s.insert("replicas".into(), json!(x));
                                }
                            }
                            "resources" => {
                                for (rk, rn) in dn.entries() {
                                    if rk == "limits" {
                                        let r = self.resources(rn);
                                        if !r.is_empty() {
                                            s.insert("resources".into(), Value::Object(r));
                                        }
                                    } else {
                                        self.not_carried(&rn.at, &format!("deploy.resources.{rk}"), "misp-gen derives requests from the limits", None);
                                    }
                                }
                            }
                            "restart_policy" => self.not_carried(&dn.at, "deploy.restart_policy", "a Swarm setting; the spec's `restart` is carried from `restart:`", None),
                            other => self.not_carried(&dn.at, &format!("deploy.{other}"), "a Swarm setting; spread, updates and disruption budgets come from the misp-gen profile (`--profile ha`)", None),
                        }
                    }
                }
                "scale" => {
                    if let V::Num(x) = &n.v {
                        s.insert("replicas".into(), json!(x));
                    }
                }
                "mem_limit" | "cpus" => {
                    let key = if k == "cpus" { "cpus" } else { "memory" };
                    let lim = Node { v: V::Map(vec![(key.to_owned(), n.clone())]), at: n.at.clone() };
                    let r = self.resources(&lim);
                    let entry = s.entry("resources").or_insert_with(|| json!({}));
                    if let (Value::Object(e), false) = (entry, r.is_empty()) {
                        e.extend(r);
                    }
                }
                "secrets" => {
                    for x in n.items() {
                        self.secret_mount(x, &mut mounts, &mut mount_paths);
                    }
                }
                "configs" => {
                    for x in n.items() {
                        self.config_mount(x, &mut mounts, &mut mount_paths);
                    }
                }
                "profiles" => self.note(&n.at, Code::NoteChanged, "carried because its compose profile is enabled; the spec has no compose profiles, so the service is always deployed".into(), None),
                "cap_add" | "cap_drop" => {
                    let mut caps: Vec<String> = Vec::new();
                    for c in n.items() {
                        let Some(t) = c.text() else { continue };
                        let name = t.trim_start_matches("CAP_").trim_start_matches("cap_").to_ascii_uppercase();
                        if name == "ALL" && k.as_str() == "cap_add" {
                            self.not_carried(&c.at, "cap_add", "`cap_add: [ALL]` gives every capability, which the spec does not allow", Some("list the capabilities the image needs in `security.cap_add`, with a reason in `security.accept.capabilities`"));
                            continue;
                        }
                        caps.push(name);
                    }
                    let drops_all = svc.get("cap_drop").is_some_and(|d| d.items().iter().any(|x| x.text().is_some_and(|t| t.eq_ignore_ascii_case("ALL") || t.eq_ignore_ascii_case("CAP_ALL"))));
                    if k.as_str() == "cap_add" && !drops_all {
                        self.note(&n.at, Code::NoteChanged, "`cap_add` is `security.cap_add`, added to misp-gen's default set as Compose adds to Docker's; misp-gen's set is smaller (no user: CHOWN, DAC_OVERRIDE, FOWNER, KILL, SETGID, SETUID, and NET_BIND_SERVICE below port 1024; a non-root user: none)".into(), Some("if the image needs another capability Docker grants by default (e.g. NET_RAW, MKNOD, SYS_CHROOT), add it to `security.cap_add`"));
                    }
                    if !caps.is_empty() || n.items().is_empty() {
                        security.insert(k.clone(), json!(caps));
                    }
                }
                "security_opt" => {
                    for o in n.items() {
                        let t = o.text().unwrap_or_default();
                        if t == "no-new-privileges:true" || t == "no-new-privileges" || t == "no-new-privileges=true" {
                            self.note(&o.at, Code::NoteChanged, "no-new-privileges is the spec's default (`security.no_new_privileges`)".into(), None);
                        } else {
                            self.not_carried(&o.at, &format!("security_opt: {t}"), "the spec says seccomp and no_new_privileges only, and relaxing either needs a reason", Some("set `security.seccomp: unconfined` with `security.accept.seccomp` if the image truly needs it"));
                        }
                    }
                }
                "privileged" if n.as_bool() != Some(true) => {}
                "links" => self.not_carried(&n.at, "links", "services reach each other by service name on every target; link aliases cannot be said", None),
                other => {
                    let (why, help) = other_key(other);
                    self.not_carried(&n.at, other, why, help);
                }
            }
        }
        if ports.is_empty()
            && let Some((port, pname)) = known_port(&image)
        {
            let at = svc.get("image").map_or(svc.at.clone(), |i| i.at.clone());
            self.note(&at, Code::NoteGuess, format!("image `{image}` listens on {port}: port `{pname}` is added (Compose reaches any port of a container; the spec lists the ports other services reach, as Kubernetes Services need)"), Some("add the other ports it serves, if any, under `ports:`"));
            ports.push(json!({ "name": pname, "port": port }));
        }
        if !ports.is_empty() {
            s.insert("ports".into(), json!(ports));
        }
        if !mounts.is_empty() {
            s.insert("mounts".into(), json!(mounts));
        }
        if !security.is_empty() {
            s.insert("security".into(), Value::Object(security));
        }
        Some(s)
    }

    fn env(&mut self, svc: &Node, name: &str) -> Map<String, Value> {
        let mut errors = Vec::new();
        let entries = self.env_entries(svc, &mut errors);
        self.out.errors.extend(errors);
        let mut env = Map::new();
        // Secret values first, so that a value reused in another variable is found.
        for (k, v, at) in &entries {
            if let Some(v) = v
                && is_secret_name(k)
                && !v.is_empty()
            {
                let s = self.secret_for(k, v, at, None);
                self.note(at, Code::NoteGuess, format!("`{k}` holds a secret: it becomes `${{secrets.{s}}}` (generated; --keep-secrets DIR keeps the compose value)"), None);
            }
        }
        for (k, v, at) in entries {
            let Some(v) = v else {
                self.not_carried(
                    &at,
                    &format!("environment.{k}"),
                    "it takes its value from the environment, where it is not set",
                    Some(
                        "set it in .env or the environment and import again, or add it to the spec",
                    ),
                );
                continue;
            };
            if is_secret_name(&k) && !v.is_empty() {
                let s = self.by_value.get(&v).cloned().unwrap_or_default();
                env.insert(k, json!(format!("${{secrets.{s}}}")));
                continue;
            }
            if is_secret_name(&k) {
                let s = self.optional_secret(&k);
                self.note(&at, Code::NoteGuess, format!("`{k}` is empty: it becomes `${{secrets.{s}}}`, an optional external secret, which renders empty unless `MISP_GEN_SECRET_{}` or `OUT/secrets/{s}` gives it a value", s.to_ascii_uppercase()), None);
                env.insert(k, json!(format!("${{secrets.{s}}}")));
                continue;
            }
            let (hidden, had) = self.hide_secrets(&v);
            let mut text = escape(&hidden);
            if had {
                self.out.masked.push(at.clone());
                self.note(
                    &at,
                    Code::NoteGuess,
                    format!("`{k}` holds a secret value inside it: that part is `${{secrets.…}}`"),
                    None,
                );
            }
            text = text.replace('\u{0}', "${secrets.").replace('\u{1}', "}");
            if let Some(db) = self.db_service.clone()
                && let Some(new) = host_rewrite(&k, &text, &db, "${database.host}")
            {
                self.note(
                    &at,
                    Code::NoteGuess,
                    format!("`{k}` names the database service `{db}`: it is `${{database.host}}`"),
                    None,
                );
                text = new;
            }
            for (old, new) in self.names.clone() {
                if old != new
                    && new != "database"
                    && let Some(t) = host_rewrite(&k, &text, &old, &new)
                {
                    self.note(
                        &at,
                        Code::NoteGuess,
                        format!("`{k}` names service `{old}`, which is `{new}` in the spec"),
                        None,
                    );
                    text = t;
                }
            }
            env.insert(k, json!(text));
        }
        let _ = name;
        env
    }

    #[expect(
        clippy::too_many_lines,
        reason = "short and long port syntax, then each check"
    )]
    fn port(
        &mut self,
        p: &Node,
        expose: bool,
        ports: &mut Vec<Value>,
        names: &mut BTreeSet<String>,
    ) {
        let parsed = match &p.v {
            V::Num(n) => n.as_u64().map(|n| {
                vec![PortSpec {
                    target: n,
                    published: None,
                    host_ip: None,
                    protocol: "tcp".into(),
                    name: None,
                }]
            }),
            V::Str(t) => parse_port(t, expose),
            V::Map(_) => {
                let target = p
                    .get("target")
                    .and_then(Node::text)
                    .and_then(|t| t.parse().ok());
                let published = p.get("published").and_then(Node::text);
                target.and_then(|target| {
                    let published = match published.as_deref() {
                        None | Some("") => None,
                        Some(x) => Some(x.parse::<u64>().ok()?),
                    };
                    Some(vec![PortSpec {
                        target,
                        published,
                        host_ip: p.get("host_ip").and_then(Node::text),
                        protocol: p
                            .get("protocol")
                            .and_then(Node::text)
                            .unwrap_or_else(|| "tcp".into()),
                        name: p.get("name").and_then(Node::text),
                    }])
                })
            }
            _ => None,
        };
        let Some(list) = parsed else {
            self.not_carried(
                &p.at,
                "ports",
                "not a port misp-gen reads (a range wider than 20 ports, or a malformed entry)",
                Some("list the ports one by one"),
            );
            return;
        };
        for ps in list {
            let (Ok(target), true) = (u16::try_from(ps.target), ps.target > 0) else {
                self.not_carried(&p.at, "ports", "the container port is out of range", None);
                continue;
            };
            if ps.protocol != "tcp" && ps.protocol != "udp" {
                self.not_carried(
                    &p.at,
                    "ports",
                    &format!("protocol `{}`: the spec has tcp and udp", ps.protocol),
                    None,
                );
                continue;
            }
            if ports
                .iter()
                .any(|x| x["port"] == json!(target) && x["protocol"] == json!(ps.protocol))
            {
                self.not_carried(
                    &p.at,
                    "ports",
                    &format!(
                        "container port {target} is listed already; the spec publishes a port once"
                    ),
                    None,
                );
                continue;
            }
            let mut publish = ps.published;
            if let Some(ip) = ps
                .host_ip
                .as_deref()
                .filter(|ip| !matches!(*ip, "" | "0.0.0.0" | "::"))
                && publish.is_some()
            {
                self.not_carried(&p.at, &format!("ports: host IP {ip}"), "the spec publishes on every address; publishing would widen what the compose file kept to that address, so the port is not published", Some("publish it (`publish:`) once a firewall or the host's address keeps it where it was meant to be"));
                publish = None;
            }
            if ps.published.is_none() && !expose && matches!(p.v, V::Str(_) | V::Num(_)) {
                self.note(&p.at, Code::NoteChanged, format!("port {target} without a host port: Compose publishes it on a random host port; the spec does not publish it"), None);
            }
            let mut name = ps
                .name
                .filter(|n| valid_port_name(n))
                .unwrap_or_else(|| port_name(target, &ps.protocol));
            if !names.insert(name.clone()) {
                name = format!(
                    "port-{target}{}",
                    if ps.protocol == "udp" { "-udp" } else { "" }
                );
                names.insert(name.clone());
            }
            let mut entry = json!({ "name": name, "port": target });
            if let Some(pb) = publish
                .and_then(|x| u16::try_from(x).ok())
                .filter(|x| *x > 0)
            {
                entry["publish"] = json!(pb);
            }
            if ps.protocol == "udp" {
                entry["protocol"] = json!("udp");
            }
            ports.push(entry);
        }
    }

    #[expect(clippy::too_many_lines, reason = "each form of a compose health check")]
    fn healthcheck(&mut self, n: &Node) -> Option<Map<String, Value>> {
        if n.get("disable").and_then(Node::as_bool) == Some(true) {
            self.note(&n.at, Code::NoteChanged, "health check disabled: the spec has none for the service (validate warns W105 until you accept it)".into(), None);
            return None;
        }
        let test = n.get("test")?;
        let (shell, words): (bool, Vec<String>) = match &test.v {
            V::Str(t) => (true, vec![t.clone()]),
            V::Seq(items) => {
                let w: Vec<String> = items.iter().filter_map(Node::text).collect();
                match w.first().map(String::as_str) {
                    Some("NONE") => {
                        self.note(
                            &test.at,
                            Code::NoteChanged,
                            "health check NONE: the spec has none for the service".into(),
                            None,
                        );
                        return None;
                    }
                    Some("CMD") => (false, w[1..].to_vec()),
                    Some("CMD-SHELL") => (true, w[1..].to_vec()),
                    _ => {
                        self.not_carried(
                            &test.at,
                            "healthcheck.test",
                            "it starts with neither CMD, CMD-SHELL nor NONE",
                            None,
                        );
                        return None;
                    }
                }
            }
            _ => return None,
        };
        if words.is_empty() || words.iter().any(|w| self.hide_secrets(w).1) {
            self.not_carried(
                &test.at,
                "healthcheck",
                "empty, or it holds a secret value",
                None,
            );
            return None;
        }
        let exec: Vec<String> = if shell {
            let joined = words.join(" ");
            let Some(t) = unbrace(&joined) else {
                self.not_carried(&test.at, "healthcheck", "its shell text uses `${…}` beyond `${NAME}`, which the spec would read as its own placeholder", Some("write `$NAME` in the shell text"));
                return None;
            };
            if t != joined {
                self.note(&test.at, Code::NoteChanged, "`${NAME}` in the health check's shell text is written `$NAME`: the same to the shell, and not a spec placeholder".into(), None);
            }
            vec!["/bin/sh".into(), "-c".into(), t]
        } else {
            if words.iter().any(|w| w.contains("${")) {
                self.not_carried(
                    &test.at,
                    "healthcheck",
                    "a `${` in its arguments, which the spec would read as a placeholder",
                    None,
                );
                return None;
            }
            words
        };
        let mut h = Map::new();
        h.insert("exec".into(), json!(exec));
        for key in ["interval", "timeout", "start_period"] {
            if let Some(d) = n.get(key) {
                match d.text() {
                    Some(t) if crate::units::duration_ms(&t).is_some() => {
                        h.insert(key.into(), json!(t));
                    }
                    _ => self.not_carried(
                        &d.at,
                        &format!("healthcheck.{key}"),
                        "not a duration misp-gen reads (`30s`, `1m30s`, `500ms`)",
                        None,
                    ),
                }
            }
        }
        if let Some(r) = n.get("retries") {
            match &r.v {
                V::Num(x) if x.as_u64().is_some_and(|x| (1..=100).contains(&x)) => {
                    h.insert("retries".into(), json!(x));
                }
                _ => self.not_carried(
                    &r.at,
                    "healthcheck.retries",
                    "the spec takes 1 to 100",
                    None,
                ),
            }
        }
        if let Some(si) = n.get("start_interval") {
            self.not_carried(
                &si.at,
                "healthcheck.start_interval",
                "the spec has no start interval; checks run at `interval` from the start",
                None,
            );
        }
        Some(h)
    }

    fn resources(&mut self, lim: &Node) -> Map<String, Value> {
        let mut r = Map::new();
        for (k, n) in lim.entries() {
            let text = n.text().unwrap_or_default();
            match k.as_str() {
                "cpus" => match crate::units::millicpu(&text) {
                    Some(m) => {
                        r.insert("cpu".into(), json!(crate::units::cpu_decimal(m)));
                    }
                    None => self.not_carried(&n.at, "cpus", "not a CPU count misp-gen reads", None),
                },
                "memory" => match compose_bytes(&text) {
                    Some(b) => {
                        r.insert("memory".into(), json!(quantity(b)));
                    }
                    None => self.not_carried(&n.at, "memory", "not a size misp-gen reads", None),
                },
                other => {
                    self.not_carried(&n.at, other, "the spec limits CPU and memory only", None);
                }
            }
        }
        r
    }

    fn top_secret(&mut self, source: &str, at: &Loc) -> Option<String> {
        let decl = self
            .top_secrets
            .as_ref()
            .and_then(|t| t.get(source))
            .cloned();
        let Some(decl) = decl else {
            self.error(
                at,
                Code::ComposeFile,
                format!("secret `{source}` is not defined under the top-level `secrets:`"),
                None,
            );
            return None;
        };
        let name = spec_name(source, true);
        if self.secrets.contains_key(&name) {
            return Some(name);
        }
        let value = if let Some(f) = decl.get("file").and_then(Node::text) {
            let full = self.cx.project_dir.join(&f);
            match crate::spec::load::read_input(&full).map(String::from_utf8) {
                Ok(Ok(v)) => Some(v),
                Ok(Err(_)) => {
                    self.error(&decl.at, Code::CannotImport, format!("secret `{source}`: file `{f}` is not UTF-8 text, which misp-gen's secrets are"), None);
                    return None;
                }
                Err(e) => {
                    self.error(
                        &decl.at,
                        Code::ComposeFile,
                        format!("secret `{source}`: file `{f}` cannot be read: {e}"),
                        None,
                    );
                    return None;
                }
            }
        } else if let Some(var) = decl.get("environment").and_then(Node::text) {
            (self.cx.lookup)(&var)
        } else {
            None
        };
        self.secrets
            .insert(name.clone(), json!({ "external": true }));
        self.note(&decl.at, Code::NoteGuess, format!("compose secret `{source}` is the external secret `{name}`: its value comes from MISP_GEN_SECRET_{} or DIR/secrets/{name}{}", name.to_ascii_uppercase().replace('-', "_"), if value.is_some() { " (--keep-secrets DIR writes the value the compose project held)" } else { "" }), None);
        if let Some(v) = &value {
            self.by_value
                .entry(v.clone())
                .or_insert_with(|| name.clone());
        }
        self.out.secrets.push(HeldSecret {
            name: name.clone(),
            value,
            external: true,
        });
        Some(name)
    }

    fn secret_mount(&mut self, x: &Node, mounts: &mut Vec<Value>, paths: &mut BTreeSet<String>) {
        let (source, target) = match &x.v {
            V::Str(s) => (s.clone(), None),
            V::Map(_) => (
                x.get("source").and_then(Node::text).unwrap_or_default(),
                x.get("target").and_then(Node::text),
            ),
            _ => return,
        };
        let Some(name) = self.top_secret(&source, &x.at) else {
            return;
        };
        let target = match target {
            Some(t) if t.starts_with('/') => t,
            Some(t) => format!("/run/secrets/{t}"),
            None => format!("/run/secrets/{source}"),
        };
        let (dir, file) = target.rsplit_once('/').unwrap_or(("", &target));
        if dir != "/run/secrets" {
            self.not_carried(&x.at, &format!("secrets: {source}"), &format!("the spec mounts a secret as a read-only directory, which at `{dir}` would hide what the image has there"), Some("mount it under /run/secrets and point the image there"));
            return;
        }
        if !paths.insert(dir.to_owned()) {
            self.not_carried(
                &x.at,
                &format!("secrets: {source}"),
                "the spec mounts one secret per directory, and /run/secrets holds another already",
                Some("mount it in a directory of its own and point the image there"),
            );
            return;
        }
        let mut m = json!({ "secret": name, "path": dir });
        if file != name {
            m["items"] = json!({ name.clone(): file });
        }
        for k in ["uid", "gid", "mode"] {
            if let Some(n) = x.get(k) {
                self.not_carried(
                    &n.at,
                    &format!("secrets.{k}"),
                    "the target sets the file's owner and mode",
                    None,
                );
            }
        }
        mounts.push(m);
    }

    fn config_mount(&mut self, x: &Node, mounts: &mut Vec<Value>, paths: &mut BTreeSet<String>) {
        let (source, target) = match &x.v {
            V::Str(s) => (s.clone(), None),
            V::Map(_) => (
                x.get("source").and_then(Node::text).unwrap_or_default(),
                x.get("target").and_then(Node::text),
            ),
            _ => return,
        };
        let decl = self
            .top_configs
            .as_ref()
            .and_then(|t| t.get(&source))
            .cloned();
        let Some(decl) = decl else {
            self.error(
                &x.at,
                Code::ComposeFile,
                format!("config `{source}` is not defined under the top-level `configs:`"),
                None,
            );
            return;
        };
        let name = spec_name(&source, true);
        let content = if let Some(c) = decl.get("content").and_then(Node::text) {
            Some(c)
        } else if let Some(f) = decl.get("file").and_then(Node::text) {
            if let Ok(Ok(v)) =
                crate::spec::load::read_input(&self.cx.project_dir.join(&f)).map(String::from_utf8)
            {
                Some(v)
            } else {
                self.error(
                    &decl.at,
                    Code::CannotImport,
                    format!("config `{source}`: file `{f}` cannot be read as UTF-8 text"),
                    None,
                );
                return;
            }
        } else {
            None
        };
        let Some(content) = content else {
            self.not_carried(
                &decl.at,
                &format!("configs.{source}"),
                "only configs from `file:` or `content:` are carried",
                None,
            );
            return;
        };
        if self.hide_secrets(&content).1 {
            self.not_carried(
                &decl.at,
                &format!("configs.{source}"),
                "it holds a secret value",
                None,
            );
            return;
        }
        if !self.files.contains_key(&name) {
            self.files
                .insert(name.clone(), json!({ "content": escape(&content) }));
            self.note(&decl.at, Code::NoteChanged, format!("config `{source}` is the spec file `{name}`: its text is in the spec now (placeholders expand there; a literal `${{` was written `$${{`)"), None);
        }
        let target = target.unwrap_or_else(|| format!("/{source}"));
        if paths.insert(target.clone()) {
            mounts.push(json!({ "file": name, "path": target }));
        }
    }

    /// A wait for `healthy` on a service whose health check was not carried (or that has no port,
    /// which Kubernetes needs to tell) waits for `started`.
    fn downgrade_waits(&mut self, spec_services: &mut Map<String, Value>, compose: &Node) {
        let healthy: BTreeSet<String> = spec_services
            .iter()
            .filter(|(_, v)| v.get("healthcheck").is_some() && v.get("ports").is_some())
            .map(|(k, _)| k.clone())
            .collect();
        let mut notes = Vec::new();
        for (sname, sv) in spec_services.iter_mut() {
            let Some(Value::Object(deps)) = sv.get_mut("depends_on") else {
                continue;
            };
            for (d, c) in deps.iter_mut() {
                if c == "healthy" && d != "database" && !healthy.contains(d) {
                    *c = json!("started");
                    let cname = self
                        .names
                        .iter()
                        .find(|(_, v)| *v == sname)
                        .map_or(sname.clone(), |(k, _)| k.clone());
                    let dname = self
                        .names
                        .iter()
                        .find(|(_, v)| *v == d)
                        .map_or(d.clone(), |(k, _)| k.clone());
                    let at = compose
                        .get(&cname)
                        .and_then(|n| n.get("depends_on"))
                        .map(|n| n.get(&dname).map_or(n.at.clone(), |x| x.at.clone()));
                    if let Some(at) = at {
                        notes.push((at, format!("`{cname}` waits for `{dname}` to be healthy in compose; `{dname}` has no health check or no port in the spec (which every target needs to tell), so it waits for it to start")));
                    }
                }
            }
        }
        for (at, m) in notes {
            self.note(
                &at,
                Code::NoteChanged,
                m,
                Some("carry the health check (see its report line) and wait for `healthy` again"),
            );
        }
    }

    fn check_cycles(&mut self, services: &Map<String, Value>, compose: &Node) {
        let deps = |s: &str| -> Vec<String> {
            services
                .get(s)
                .and_then(|v| v.get("depends_on"))
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        let mut state: BTreeMap<String, u8> = BTreeMap::new();
        for start in services.keys() {
            let mut stack = vec![(start.clone(), 0usize)];
            let mut path: Vec<String> = Vec::new();
            if state.get(start).copied().unwrap_or(0) == 2 {
                continue;
            }
            while let Some((node, i)) = stack.pop() {
                if i == 0 {
                    if state.get(&node).copied().unwrap_or(0) == 1 {
                        let back: String = self
                            .names
                            .iter()
                            .find(|(_, v)| **v == node)
                            .map_or(node.clone(), |(k, _)| k.clone());
                        let at = compose.get(&back).map_or(compose.at.clone(), |n| {
                            n.get("depends_on").map_or(n.at.clone(), |d| d.at.clone())
                        });
                        self.error(
                            &at,
                            Code::DependencyCycle,
                            format!("depends_on forms a cycle through `{back}`"),
                            Some("Compose refuses it too: remove one of the dependencies"),
                        );
                        return;
                    }
                    if state.get(&node).copied().unwrap_or(0) == 2 {
                        continue;
                    }
                    state.insert(node.clone(), 1);
                    path.push(node.clone());
                }
                let ds = deps(&node);
                if let Some(d) = ds.get(i) {
                    stack.push((node, i + 1));
                    if services.contains_key(d) {
                        stack.push((d.clone(), 0));
                    }
                } else {
                    state.insert(node, 2);
                    path.pop();
                }
            }
        }
    }
}

/// The port a well-known image serves, and its name.
fn known_port(image: &str) -> Option<(u16, &'static str)> {
    let (repo, _) = split_image(image);
    let last = repo.rsplit('/').next().unwrap_or(repo);
    Some(match last {
        "redis" | "valkey" | "keydb" => (6379, "redis"),
        "memcached" => (11211, "memcached"),
        "rabbitmq" => (5672, "amqp"),
        "mongo" => (27017, "mongodb"),
        "elasticsearch" | "opensearch" => (9200, "http"),
        "smtp" | "postfix" | "exim4" | "docker-postfix" => (25, "smtp"),
        "misp-modules" => (6666, "modules"),
        "mariadb" | "mysql" => (3306, "mysql"),
        "postgres" => (5432, "postgres"),
        "nginx" | "httpd" => (80, "http"),
        _ => return None,
    })
}

fn other_key(k: &str) -> (&'static str, Option<&'static str>) {
    match k {
        "container_name" => (
            "misp-gen names containers itself; services reach each other by service name on every target",
            Some("refer to the service by its name"),
        ),
        "hostname" | "domainname" => ("the container's host name is the target's", None),
        "networks" | "network_mode" => (
            "misp-gen gives the deployment one network of its own and every service reaches the others by name",
            None,
        ),
        "labels" => (
            "misp-gen writes its own labels; the spec has no field for others yet",
            None,
        ),
        "logging" => (
            "each target logs the way it does by default (the engine's log driver, the journal, the cluster's logging)",
            None,
        ),
        "privileged" => (
            "the spec has no privileged containers",
            Some(
                "list the capabilities the image needs in `security.cap_add`, with a reason in `security.accept.capabilities`",
            ),
        ),
        "extra_hosts" | "dns" | "dns_search" | "dns_opt" => {
            ("the spec cannot change name resolution", None)
        }
        "stop_grace_period" | "stop_signal" => (
            "each target stops containers its own way (compose 10 s, Kubernetes 30 s)",
            None,
        ),
        "extends" => (
            "`extends` is not resolved",
            Some("write the service out in full, or use YAML anchors"),
        ),
        "pull_policy" => (
            "the spec's pull policy is deployment-wide",
            Some("set `images.pull`"),
        ),
        "init" | "tty" | "stdin_open" | "shm_size" | "sysctls" | "ulimits" | "devices" | "pid"
        | "ipc" | "platform" => ("the spec has no field for it yet", None),
        _ => ("the spec has no field for it", None),
    }
}

fn db_engine(svc: &Node) -> Option<&'static str> {
    let image = svc.get("image")?.as_str()?;
    let (repo, _) = split_image(image);
    let last = repo.rsplit('/').next().unwrap_or(repo);
    if !official(repo) {
        return None;
    }
    DB_IMAGES.iter().find(|(n, _)| *n == last).map(|(_, e)| *e)
}

/// Whether a repository is a Docker official image (`mariadb`, `library/mariadb`, `docker.io/…`).
fn official(repo: &str) -> bool {
    let r = repo
        .strip_prefix("docker.io/")
        .or_else(|| repo.strip_prefix("index.docker.io/"))
        .unwrap_or(repo);
    let r = r.strip_prefix("library/").unwrap_or(r);
    !r.contains('/')
}

/// (repository, tag) of an image reference; a digest counts as a pinned tag.
fn split_image(image: &str) -> (&str, Option<&str>) {
    if let Some((repo, digest)) = image.split_once('@') {
        let repo = repo
            .rsplit_once(':')
            .filter(|(_, t)| !t.contains('/'))
            .map_or(repo, |(r, _)| r);
        return (repo, Some(digest));
    }
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag)),
        _ => (image, None),
    }
}

fn compose_project(p: &str) -> String {
    spec_name(p, true)
}

/// A value that names `old` as a host: the whole value for a variable about a host, or the host
/// part of a URL. `None` when it does not.
fn host_rewrite(key: &str, value: &str, old: &str, new: &str) -> Option<String> {
    let k = key.to_ascii_uppercase();
    if value == old
        && (k.contains("HOST")
            || k.contains("SERVER")
            || k.contains("ADDR")
            || k.contains("FQDN")
            || k.contains("URL"))
    {
        return Some(new.to_owned());
    }
    if let Some(rest) = value.strip_prefix(old).and_then(|r| r.strip_prefix(':'))
        && !rest.is_empty()
        && rest.chars().all(|c| c.is_ascii_digit())
    {
        return Some(format!("{new}:{rest}"));
    }
    let mut out = value.to_owned();
    let mut changed = false;
    for lead in ["://", "@"] {
        let needle = format!("{lead}{old}");
        let mut from = 0;
        while let Some(i) = out[from..].find(&needle) {
            let at = from + i;
            let after = at + needle.len();
            let next = out[after..].chars().next();
            if next.is_none_or(|c| matches!(c, ':' | '/' | '?')) {
                out.replace_range(at + lead.len()..after, new);
                changed = true;
                from = at + lead.len() + new.len();
            } else {
                from = after;
            }
        }
    }
    changed.then_some(out)
}

/// `${NAME}` → `$NAME` where the next character cannot extend the name; `None` when another
/// `${…}` form is there.
fn unbrace(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find('}')?;
        let name = &after[..end];
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || name.starts_with(|c: char| c.is_ascii_digit())
        {
            return None;
        }
        let tail = &after[end + 1..];
        if tail.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        out.push('$');
        out.push_str(name);
        rest = tail;
    }
    out.push_str(rest);
    Some(out)
}

/// Compose's size units: b, k/kb, m/mb, g/gb (powers of 1024), any case.
fn compose_bytes(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_lowercase();
    let digits: String = t.chars().take_while(char::is_ascii_digit).collect();
    let n: u64 = digits.parse().ok()?;
    let mult: u64 = match &t[digits.len()..] {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult).filter(|b| *b > 0)
}

fn quantity(b: u64) -> String {
    for (unit, size) in [("Gi", 1u64 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
        if b.is_multiple_of(size) {
            return format!("{}{unit}", b / size);
        }
    }
    b.to_string()
}

struct PortSpec {
    target: u64,
    published: Option<u64>,
    host_ip: Option<String>,
    protocol: String,
    name: Option<String>,
}

fn range(s: &str) -> Option<(u64, u64)> {
    if let Some((a, b)) = s.split_once('-') {
        Some((a.parse().ok()?, b.parse().ok()?))
    } else {
        let v = s.parse().ok()?;
        Some((v, v))
    }
}

/// `[[ip:]host[-range]:]container[-range][/protocol]`.
fn parse_port(t: &str, expose: bool) -> Option<Vec<PortSpec>> {
    let (body, protocol) = t.split_once('/').unwrap_or((t, "tcp"));
    let (ip, rest) = if let Some(r) = body.strip_prefix('[') {
        let (ip, r) = r.split_once("]:")?;
        (Some(ip.to_owned()), r)
    } else {
        (None, body)
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, container) = match (ip, parts.as_slice()) {
        (None, [c]) => (None, None, *c),
        (None, [h, c]) => (None, Some(*h), *c),
        (None, [i, h, c]) => (Some((*i).to_owned()), Some(*h), *c),
        (Some(i), [h, c]) => (Some(i), Some(*h), *c),
        _ => return None,
    };
    let (c0, c1) = range(container)?;
    if c1 < c0 || c1 - c0 >= 20 {
        return None;
    }
    let host = host.filter(|h| !h.is_empty());
    let hr = match host {
        Some(h) => Some(range(h)?),
        None => None,
    };
    let mut out = Vec::new();
    for (i, c) in (c0..=c1).enumerate() {
        let published = match hr {
            Some((h0, h1)) if h1 - h0 == c1 - c0 => Some(h0 + i as u64),
            Some((h0, h1)) if h0 == h1 && c0 == c1 => Some(h0),
            Some(_) => return None,
            None => None,
        };
        let _ = expose;
        out.push(PortSpec {
            target: c,
            published,
            host_ip: ip.clone(),
            protocol: protocol.to_owned(),
            name: None,
        });
    }
    Some(out)
}

fn valid_port_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 15
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && n.chars().any(|c| c.is_ascii_lowercase())
        && !n.starts_with('-')
        && !n.ends_with('-')
        && !n.contains("--")
}

fn port_name(port: u16, protocol: &str) -> String {
    let base = match port {
        80 | 8080 => "http".to_owned(),
        443 | 8443 => "https".to_owned(),
        25 => "smtp".to_owned(),
        587 => "submission".to_owned(),
        465 => "smtps".to_owned(),
        3306 => "mysql".to_owned(),
        5432 => "postgres".to_owned(),
        6379 => "redis".to_owned(),
        53 => "dns".to_owned(),
        p => format!("port-{p}"),
    };
    if protocol == "udp" {
        format!("{base}-udp")
    } else {
        base
    }
}

enum Mount {
    Named {
        source: String,
        target: String,
        read_only: bool,
    },
    Anonymous {
        target: String,
    },
    Bind {
        source: String,
        target: String,
        read_only: bool,
        /// `z` or `Z`.
        selinux: Option<String>,
    },
    Tmpfs {
        target: String,
    },
}

fn is_path(s: &str) -> bool {
    s.starts_with(['.', '/', '~', '$']) || s.contains('/')
}

fn parse_volume(v: &Node) -> Option<Mount> {
    match &v.v {
        V::Str(t) => {
            let parts: Vec<&str> = t.split(':').collect();
            let (source, target, mode) = match parts.as_slice() {
                [t] => {
                    return Some(Mount::Anonymous {
                        target: (*t).to_owned(),
                    });
                }
                [s, t] => (*s, *t, ""),
                [s, t, m] => (*s, *t, *m),
                _ => return None,
            };
            if !target.starts_with('/') {
                return None;
            }
            if is_path(source) {
                return Some(Mount::Bind {
                    source: source.to_owned(),
                    target: target.to_owned(),
                    read_only: mode.split(',').any(|m| m == "ro"),
                    selinux: mode
                        .split(',')
                        .find(|m| *m == "z" || *m == "Z")
                        .map(str::to_owned),
                });
            }
            Some(Mount::Named {
                source: source.to_owned(),
                target: target.to_owned(),
                read_only: mode.split(',').any(|m| m == "ro"),
            })
        }
        V::Map(_) => {
            let kind = v
                .get("type")
                .and_then(Node::text)
                .unwrap_or_else(|| "volume".into());
            let target = v.get("target").and_then(Node::text)?;
            let source = v.get("source").and_then(Node::text);
            let read_only = v.get("read_only").and_then(Node::as_bool) == Some(true);
            match (kind.as_str(), source) {
                ("volume", Some(s)) if !s.is_empty() => Some(Mount::Named {
                    source: s,
                    target,
                    read_only,
                }),
                ("volume", _) => Some(Mount::Anonymous { target }),
                ("bind", Some(s)) => Some(Mount::Bind {
                    source: s,
                    target,
                    read_only,
                    selinux: v
                        .get("bind")
                        .and_then(|b| b.get("selinux"))
                        .and_then(Node::text)
                        .filter(|x| x == "z" || x == "Z"),
                }),
                ("tmpfs", _) => Some(Mount::Tmpfs { target }),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Split a command string into words as Compose does (POSIX shell quoting, no expansion).
fn shell_words(s: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        x => cur.push(x),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            x @ ('"' | '\\' | '$' | '`') => cur.push(x),
                            '\n' => {}
                            x => {
                                cur.push('\\');
                                cur.push(x);
                            }
                        },
                        x => cur.push(x),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') | None => {}
                    Some(x) => cur.push(x),
                }
            }
            x => {
                in_word = true;
                cur.push(x);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Some(words)
}

/// The path of a file named relative to the project directory.
#[must_use]
pub fn project_path(dir: &Path, p: &str) -> PathBuf {
    dir.join(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pins the helpers' readings of compose's small syntaxes.
    #[test]
    fn small_syntaxes() {
        assert_eq!(
            shell_words(r#"sh -c 'a b' "c\"d" e\ f"#).unwrap(),
            ["sh", "-c", "a b", "c\"d", "e f"]
        );
        assert!(shell_words("a 'b").is_none());
        assert_eq!(split_image("mariadb:10.11"), ("mariadb", Some("10.11")));
        assert_eq!(split_image("reg:5000/a/b"), ("reg:5000/a/b", None));
        assert!(official("docker.io/library/postgres") && !official("bitnami/mariadb"));
        assert_eq!(compose_bytes("512m"), Some(512 << 20));
        assert_eq!(quantity(512 << 20), "512Mi");
        let p = parse_port("127.0.0.1:8080:80/udp", false).unwrap();
        assert_eq!(
            (
                p[0].target,
                p[0].published,
                p[0].host_ip.as_deref(),
                p[0].protocol.as_str()
            ),
            (80, Some(8080), Some("127.0.0.1"), "udp")
        );
        assert_eq!(parse_port("8000-8002:9000-9002", false).unwrap().len(), 3);
        assert_eq!(
            host_rewrite("DB_HOST", "db", "db", "N").as_deref(),
            Some("N")
        );
        assert_eq!(
            host_rewrite("URL", "mysql://u@db:3306/x", "db", "N").as_deref(),
            Some("mysql://u@N:3306/x")
        );
        assert_eq!(host_rewrite("DB_NAME", "db", "db", "N"), None);
        assert_eq!(
            unbrace("redis-cli -a ${P} ping").as_deref(),
            Some("redis-cli -a $P ping")
        );
        assert_eq!(unbrace("${P:-x}"), None);
        assert!(
            is_secret_name("MYSQL_ROOT_PASSWORD")
                && is_secret_name("api_key")
                && !is_secret_name("KEYS")
        );
    }
}
