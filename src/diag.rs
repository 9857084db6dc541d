//! Diagnostics: a problem in a user's file, where it is, and the three ways to print a list of them.

use std::fmt::Write as _;

use serde::Serialize;

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl Pos {
    pub const START: Pos = Pos { line: 1, col: 1 };
}

/// Defines [`Code`] and its contract from one table: each line is `Variant => "CODE-name", "summary";`.
/// The code strings are the user contract (CI scripts match on them): a code is never renamed, and
/// `tests/validate.rs` keeps them unique. The order of the lines is `Code`'s `Ord`, in which SARIF
/// lists its rules; `misp-gen codes` sorts by the code string.
macro_rules! codes {
    ($( $(#[$attr:meta])* $variant:ident => $code:literal, $summary:literal; )*) => {
        /// Stable error codes. The string form is part of the user contract (CI scripts match on
        /// it), so a code is never renamed; `tests/validate.rs` keeps them unique.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $( $(#[$attr])* $variant, )*
        }

        impl Code {
            /// Every code, for the uniqueness test, `misp-gen codes` and the book's table.
            pub const ALL: &'static [Code] = &[ $( Code::$variant, )* ];

            /// The code as users see it: `E201-unknown-field`.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Code::$variant => $code, )*
                }
            }

            /// What the code is about, in one line (SARIF's rule descriptions, `misp-gen codes`).
            #[must_use]
            pub fn summary(self) -> &'static str {
                match self {
                    $( Code::$variant => $summary, )*
                }
            }
        }
    };
}

codes! {
    // the YAML loader
    YamlSyntax => "E100-yaml-syntax", "The file is not valid YAML";
    YamlDuplicateKey => "E101-duplicate-key", "A mapping has the same key twice";
    YamlNotUtf8 => "E102-not-utf8", "The file is not UTF-8";
    YamlEmpty => "E103-empty-file", "The file holds no document";
    YamlMultipleDocuments => "E104-multiple-documents", "The file holds more than one YAML document";
    YamlAliasLimit => "E105-alias-limit", "Aliases expand past the limit (an alias bomb)";
    YamlTooDeep => "E106-too-deep", "The nesting is deeper than allowed";
    YamlTooLarge => "E107-too-large", "The file or a key is larger than allowed";
    YamlUnsupportedTag => "E108-unsupported-tag", "A YAML tag misp-gen does not support";
    YamlComplexKey => "E109-complex-key", "A mapping key that is not a plain string";
    YamlBadNumber => "E110-bad-number", "A number that is not valid or that JSON cannot hold";
    // the schema
    SchemaType => "E200-type", "A value of the wrong type";
    SchemaUnknownField => "E201-unknown-field", "A field the schema does not have";
    SchemaMissingField => "E202-missing-field", "A required field is missing";
    SchemaEnum => "E203-not-allowed-value", "A value that is not one of those allowed";
    SchemaConst => "E204-wrong-constant", "A field that has one allowed value holds another";
    SchemaRange => "E205-out-of-range", "A number out of its range";
    SchemaPattern => "E206-bad-format", "A string not in the format the field needs";
    SchemaLength => "E207-bad-length", "A string or list too short or too long";
    SchemaOther => "E299-schema", "The spec does not match the schema";
    // semantic rules
    InvalidName => "E300-invalid-name", "A name of the wrong shape or length, or that two objects would share";
    UndefinedVolume => "E301-undefined-volume", "A reference to a volume that is not defined";
    UndefinedSecret => "E302-undefined-secret", "A reference to a secret that is not defined";
    UndefinedFile => "E303-undefined-file", "A reference to a file that is not defined";
    UndefinedService => "E304-undefined-service", "A reference to a service that is not defined";
    UndefinedPort => "E305-undefined-port", "A reference to a port the service does not have";
    UndefinedPlaceholder => "E306-undefined-placeholder", "A placeholder that names nothing defined";
    PlaceholderSyntax => "E307-placeholder-syntax", "A placeholder that does not parse";
    SecretPlaceholderNotAllowed => "E308-secret-not-allowed-here", "A secret where only env values and file content may hold one";
    DuplicatePort => "E309-duplicate-port", "Two ports of a service with the same name or number";
    HostPortConflict => "E310-host-port-conflict", "Two services publish the same host port";
    ImageNoTag => "E311-image-without-tag", "An image without a tag or digest";
    ImageLatest => "E312-image-latest", "An image tagged latest";
    ImageRegistry => "E313-image-registry-not-allowed", "An image from a registry the policy does not allow";
    ImageDigestRequired => "E314-image-digest-required", "An image without the digest the policy requires";
    ImageSyntax => "E315-image-syntax", "An image reference that does not parse";
    SingletonReplicas => "E316-singleton-replicas", "A singleton with more than one replica";
    DependencyCycle => "E317-dependency-cycle", "depends_on forms a cycle";
    HealthyWithoutHealthcheck => "E318-healthy-without-healthcheck", "A wait for healthy on a service without a health check";
    TlsWithoutHosts => "E319-tls-without-hosts", "A TLS secret without hosts";
    SecretSource => "E320-secret-source", "A secret with no value or no source, or two";
    MountSource => "E321-mount-source", "A mount or health check with no kind or two, or two mounts at one path";
    BadSecretItem => "E322-secret-item", "A mount's items that do not fit the mount or its secret";
    BadDuration => "E323-duration", "A duration that does not parse";
    BadQuantity => "E324-quantity", "A size or CPU quantity that does not parse";
    BadMode => "E325-file-mode", "A file mode that is not an octal mode";
    DatabaseConfig => "E326-database", "The database block is inconsistent";
    EdgeConfig => "E327-edge", "The edge block is inconsistent";
    ExternalSecretInGenerate => "E328-secret-options", "A secret option that does not apply to its kind";
    UnknownProfile => "E400-unknown-profile", "A profile that is neither built in nor a readable profile file";
    ProfileDatabase => "E401-profile-database", "The profile needs an external or replicated database";
    ProfileSharedVolume => "E402-profile-shared-volume", "A volume mounted by several replicas is not shared";
    ProfileHostPort => "E403-profile-host-port", "A replicated service publishes a host port";
    SecurityUnexplained => "E329-security-unexplained", "A hardening default relaxed without a reason";
    UnknownCapability => "E330-unknown-capability", "A capability Linux does not have";
    SecurityWritable => "E331-security-writable", "writable without read_only, or a writable path that is not absolute";
    RunAsNonRoot => "E332-run-as-non-root", "run_as_non_root with a user that is not a non-root UID";
    TooMany => "E333-too-many", "More entries or containers than a spec may hold";
    PlaceholderInParam => "E334-placeholder-in-param", "A params value holding `${`, which params do not expand";
    ReplicatedRedis => "E335-replicated", "A replicated Redis service that misp-gen cannot replicate as written";
    CapabilityFields => "E336-capability-fields", "`capabilities` in one `security:` block with `cap_add` or `cap_drop`";
    UnitValue => "E500-unit-value", "A value a target cannot carry";
    PodSecurity => "E501-pod-security", "The pods do not meet the Pod Security level";
    KubernetesLimit => "E502-kubernetes-limit", "A value Kubernetes would refuse (a server-side limit)";
    NotRendered => "E503-not-rendered", "Something the target does not render yet (a database cluster or a replicated Redis on Kubernetes or systemd)";
    // the output directory's state
    StateChange => "E700-state-change", "A render that would orphan or break data the last render's volumes, claims or database hold";
    // `import`: compose files in
    ComposeFile => "E600-compose-file", "A compose file misp-gen cannot read as one (its shape or a value)";
    Interpolation => "E601-interpolation", "A `${…}` in a compose file that does not parse, or a required variable that is unset";
    CannotImport => "E602-cannot-import", "A compose service or value that cannot become part of a spec";
    Other => "E900-other", "An internal error";
    // warnings: hardening questions the spec leaves open
    WarnRoot => "W100-root", "The container runs as root or as the image's unknown user";
    WarnLowUid => "W101-low-uid", "The container runs as a UID that may exist on the host";
    WarnCapabilities => "W102-capabilities", "Capabilities are added back after dropping them all";
    WarnWritableRoot => "W103-writable-root", "The root file system is writable";
    WarnNoLimits => "W104-no-limits", "No CPU or memory limit";
    WarnNoHealthcheck => "W105-no-healthcheck", "No health check";
    WarnImageTag => "W106-image-not-pinned", "The image is not pinned by digest";
    WarnSecretEnv => "W107-secret-env", "Secrets are passed as environment variables";
    WarnStateChange => "W700-state-change", "A change of what holds data that the render accepts (a newer database, an accepted change): back up first";
    WarnHostPort => "W108-host-port", "A port is published outside the deployment";
    WarnHostMount => "W109-host-mount", "A host directory or file, which Kubernetes gets as an empty claim to fill";
    WarnPodSecurity => "W110-pod-security", "A setting forces the Kubernetes namespace's Pod Security level to privileged";
    // notes: the lines of `import`'s conversion report
    NoteChanged => "I600-carried-changed", "A compose key carried into the spec with a change of meaning";
    NoteGuess => "I601-guess", "A guess: a compose service or value taken as the spec's database or a secret";
    NoteNotCarried => "I602-not-carried", "A compose key not carried into the spec, why, and what to do";
    NoteProfileOff => "I603-profile-not-enabled", "A compose service of a profile that is not enabled, not carried";
}

impl Code {
    /// A warning (`W…`): the spec is valid, but leaves a question open.
    #[must_use]
    pub fn is_warning(self) -> bool {
        self.as_str().starts_with('W')
    }

    /// A note (`I…`): a line of `import`'s conversion report, neither an error nor a question
    /// the spec leaves open.
    #[must_use]
    pub fn is_note(self) -> bool {
        self.as_str().starts_with('I')
    }

    /// `error`, `warning` or `note`, as the formats spell it.
    #[must_use]
    pub fn severity(self) -> &'static str {
        if self.is_warning() {
            "warning"
        } else if self.is_note() {
            "note"
        } else {
            "error"
        }
    }
}

/// Output of `misp-gen codes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CodesFormat {
    /// one code a line: code, severity and summary in columns
    Text,
    /// a JSON array of {code, severity, summary}
    Json,
    /// a Markdown table (the book's page of diagnostic codes)
    Markdown,
}

/// Every code, sorted, with its severity and summary: what `misp-gen codes` prints.
#[must_use]
pub fn codes_table(format: CodesFormat) -> String {
    let mut codes = Code::ALL.to_vec();
    codes.sort_by_key(|c| c.as_str());
    let mut out = String::new();
    match format {
        CodesFormat::Text => {
            let width = codes.iter().map(|c| c.as_str().len()).max().unwrap_or(0);
            for c in codes {
                let _ = writeln!(
                    out,
                    "{:width$}  {:7}  {}",
                    c.as_str(),
                    c.severity(),
                    c.summary()
                );
            }
        }
        CodesFormat::Json => {
            let list: Vec<serde_json::Value> = codes
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "code": c.as_str(),
                        "severity": c.severity(),
                        "summary": c.summary(),
                    })
                })
                .collect();
            out = serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".to_owned());
            out.push('\n');
        }
        CodesFormat::Markdown => {
            out.push_str("| code | severity | summary |\n|---|---|---|\n");
            for c in codes {
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} |",
                    c.as_str(),
                    c.severity(),
                    c.summary()
                );
            }
        }
    }
    out
}

/// Everything `validate` found, with the source texts to show them against.
#[derive(Debug, Clone, Default)]
pub struct Invalid {
    pub diags: Vec<Diagnostic>,
    pub sources: std::collections::BTreeMap<String, String>,
}

/// One problem, located in one file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    pub file: String,
    pub pos: Pos,
    /// JSON pointer of the node in the document ("" for the whole file).
    pub pointer: String,
    pub code: Code,
    pub message: String,
    /// What to do about it, when there is something better to say than the message.
    pub help: Option<String>,
}

impl Diagnostic {
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// `error`, `warning` or `note`, as the formats spell it.
    #[must_use]
    pub fn severity(&self) -> &'static str {
        self.code.severity()
    }

    fn sort_key(&self) -> (&str, Pos, &str, &str) {
        (&self.file, self.pos, self.code.as_str(), &self.message)
    }
}

/// Sort by file and position and drop exact repeats (the same node can fail in the raw spec and in
/// the effective one after a profile is applied).
pub fn sort_dedup(diags: &mut Vec<Diagnostic>) {
    diags.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    diags.dedup_by(|a, b| a.sort_key() == b.sort_key());
}

/// Output format of `validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `FILE:LINE:COL: error[CODE]: message` (or `warning[CODE]`), the source line and a caret
    Human,
    /// a JSON array of {file, line, column, pointer, severity, code, message, help}
    Json,
    /// GitHub Actions workflow commands (`::error file=…,line=…,col=…::…`, `::warning …`)
    Github,
    /// SARIF 2.1.0, for code-scanning uploads
    Sarif,
}

/// Source texts by file name, for printing the offending line under a human diagnostic.
pub trait Sources {
    fn source(&self, file: &str) -> Option<&str>;
}

impl Sources for std::collections::BTreeMap<String, String> {
    fn source(&self, file: &str) -> Option<&str> {
        self.get(file).map(String::as_str)
    }
}

/// The most diagnostics the human format prints; the rest are counted.
pub const MAX_HUMAN: usize = 100;

/// The widest source excerpt the human format shows, in characters.
pub const MAX_EXCERPT: usize = 120;

/// `message` with every quoted or backticked piece replaced by `…`: for messages about a file
/// whose content must not be shown.
#[must_use]
pub fn without_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut open: Option<char> = None;
    for c in message.chars() {
        match open {
            Some(q) if c == q => {
                out.push('…');
                out.push(c);
                open = None;
            }
            Some(_) => {}
            None if c == '"' || c == '`' => {
                out.push(c);
                open = Some(c);
            }
            None => out.push(c),
        }
    }
    if open.is_some() {
        out.push('…');
    }
    out
}

#[must_use]
pub fn format_all(diags: &[Diagnostic], format: Format, sources: &dyn Sources) -> String {
    match format {
        Format::Human => {
            let mut out = String::new();
            // Each source's lines found once, not once per diagnostic.
            let mut lines: std::collections::HashMap<&str, Vec<&str>> =
                std::collections::HashMap::new();
            for d in diags.iter().take(MAX_HUMAN) {
                let line = sources.source(&d.file).and_then(|s| {
                    lines
                        .entry(d.file.as_str())
                        .or_insert_with(|| s.lines().collect())
                        .get(d.pos.line.saturating_sub(1) as usize)
                        .copied()
                });
                format_human(&mut out, d, line);
            }
            let n = diags.len();
            if n > MAX_HUMAN {
                let _ = writeln!(
                    out,
                    "and {} more (use --format json for all of them)",
                    n - MAX_HUMAN
                );
            }
            let warnings = diags.iter().filter(|d| d.code.is_warning()).count();
            let notes = diags.iter().filter(|d| d.code.is_note()).count();
            let errors = n - warnings - notes;
            let plural = |n: usize| if n == 1 { "" } else { "s" };
            let counts: Vec<String> = [(errors, "error"), (warnings, "warning"), (notes, "note")]
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, what)| format!("{n} {what}{}", plural(*n)))
                .collect();
            if !counts.is_empty() {
                let _ = writeln!(out, "{}", counts.join(", "));
            }
            out
        }
        Format::Sarif => sarif(diags),
        Format::Json => {
            #[derive(Serialize)]
            struct J<'a> {
                file: &'a str,
                line: u32,
                column: u32,
                pointer: &'a str,
                severity: &'a str,
                code: &'a str,
                message: &'a str,
                #[serde(skip_serializing_if = "Option::is_none")]
                help: Option<&'a str>,
            }
            let list: Vec<J<'_>> = diags
                .iter()
                .map(|d| J {
                    file: &d.file,
                    line: d.pos.line,
                    column: d.pos.col,
                    pointer: &d.pointer,
                    severity: d.severity(),
                    code: d.code.as_str(),
                    message: &d.message,
                    help: d.help.as_deref(),
                })
                .collect();
            let mut s = serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".to_owned());
            s.push('\n');
            s
        }
        Format::Github => {
            let mut out = String::new();
            for d in diags {
                let mut msg = format!("{}: {}", d.code.as_str(), printable(&d.message));
                if let Some(h) = &d.help {
                    let _ = write!(msg, " (help: {})", printable(h));
                }
                // GitHub's workflow command for a note is `notice`.
                let command = if d.code.is_note() {
                    "notice"
                } else {
                    d.severity()
                };
                let _ = writeln!(
                    out,
                    "::{} file={},line={},col={},title={}::{}",
                    command,
                    gh_escape_prop(&printable(&d.file)),
                    d.pos.line,
                    d.pos.col,
                    gh_escape_prop(d.code.as_str()),
                    gh_escape_data(&msg)
                );
            }
            out
        }
    }
}

/// SARIF 2.1.0: one run of misp-gen, a rule per code that occurs, a result per diagnostic.
fn sarif(diags: &[Diagnostic]) -> String {
    let mut codes: Vec<Code> = diags.iter().map(|d| d.code).collect();
    codes.sort();
    codes.dedup();
    let rules: Vec<serde_json::Value> = codes
        .iter()
        .map(|c| {
            serde_json::json!({
                "id": c.as_str(),
                "name": c.as_str().split_once('-').map_or(c.as_str(), |(_, n)| n),
                "shortDescription": { "text": c.summary() },
                "defaultConfiguration": { "level": c.severity() },
            })
        })
        .collect();
    let results: Vec<serde_json::Value> = diags
        .iter()
        .map(|d| {
            // SARIF is JSON, but its texts are shown as they are by the viewers that read it.
            let mut text = printable(&d.message).into_owned();
            if let Some(h) = &d.help {
                let _ = write!(text, " (help: {})", printable(h));
            }
            serde_json::json!({
                "ruleId": d.code.as_str(),
                "ruleIndex": codes.iter().position(|c| *c == d.code).unwrap_or(0),
                "level": d.severity(),
                "message": { "text": text },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(&d.file) },
                        "region": { "startLine": d.pos.line.max(1), "startColumn": d.pos.col.max(1) },
                    },
                    "logicalLocations": [{ "fullyQualifiedName": printable(&d.pointer), "kind": "object" }],
                }],
            })
        })
        .collect();
    let log = serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "misp-gen",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    let mut s = serde_json::to_string_pretty(&log).unwrap_or_else(|_| "{}".to_owned());
    s.push('\n');
    s
}

/// A file name as a relative URI reference: `/` separators, everything but unreserved
/// characters percent-encoded.
fn uri(file: &str) -> String {
    let mut out = String::new();
    for b in file.replace('\\', "/").bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// One diagnostic in the human format. Every text from the input (file name, message, help, the
/// source line) goes through [`printable`] here, the one place: a message site never escapes.
fn format_human(out: &mut String, d: &Diagnostic, line: Option<&str>) {
    let _ = writeln!(
        out,
        "{}:{}:{}: {}[{}]: {}",
        printable(&d.file),
        d.pos.line,
        d.pos.col,
        d.severity(),
        d.code.as_str(),
        printable(&d.message)
    );
    if let Some(line) = line {
        let gutter = d.pos.line.to_string();
        let pad = " ".repeat(gutter.len());
        let col = (d.pos.col.saturating_sub(1)) as usize;
        // At most MAX_EXCERPT characters around the caret, `…` where the line is cut.
        let len = line.chars().count();
        let start = if len <= MAX_EXCERPT {
            0
        } else {
            col.saturating_sub(MAX_EXCERPT / 2).min(len - MAX_EXCERPT)
        };
        // Tabs would shift the caret; show them as single spaces. Every other character is shown
        // as `printable` writes it, and the caret moves by the width of what is shown.
        let mut shown = String::new();
        let mut caret_at = 0;
        let mut buf = [0u8; 4];
        let mut taken = 0;
        for c in line.chars().skip(start).take(MAX_EXCERPT) {
            let c = if c == '\t' { ' ' } else { c };
            let piece = printable(c.encode_utf8(&mut buf));
            if start + taken < col {
                caret_at += piece.chars().count();
            }
            taken += 1;
            shown.push_str(&piece);
        }
        // A column past what is shown (the end of the line) keeps its distance.
        caret_at += col.saturating_sub(start + taken);
        if start > 0 {
            shown.insert(0, '…');
            caret_at += 1;
        }
        if start + MAX_EXCERPT < len {
            shown.push('…');
        }
        let _ = writeln!(out, "{pad} |");
        let _ = writeln!(out, "{gutter} | {shown}");
        let _ = writeln!(out, "{pad} | {}^", " ".repeat(caret_at));
    }
    if let Some(h) = &d.help {
        let _ = writeln!(out, "  = help: {}", printable(h));
    }
}

/// Text from outside (spec keys and values, archive entry names, registry messages) made safe to
/// print on a terminal or into a CI log: every control character (line breaks, ESC, DEL, the C1
/// range) and every bidirectional override is written as a Rust-style escape (`\n`, `\u{1b}`), and
/// a backslash as `\\`, so one printed value is one line that cannot forge another
/// (`::error …`, `modified: …`) or move the cursor. Text with none of them is returned as it is.
#[must_use]
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    escape(s, true)
}

/// [`printable`] for a message that may already hold text it escaped (the last line misp-gen
/// prints, `error: …`): control characters and bidirectional overrides are escaped, backslashes
/// are left alone, so escaping twice changes nothing and a message is still one line.
#[must_use]
pub fn one_line(s: &str) -> std::borrow::Cow<'_, str> {
    escape(s, false)
}

fn escape(s: &str, backslash: bool) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        (backslash && c == '\\')
            || c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' if backslash => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if unsafe_char(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

fn gh_escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn gh_escape_prop(s: &str) -> String {
    gh_escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Levenshtein distance, for "did you mean" hints on unknown names. Words and candidates longer
/// than 64 characters get no hint (the distance costs their product).
#[must_use]
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    if word.len() > 64 {
        return None;
    }
    let candidates = candidates.into_iter().filter(|c| c.len() <= 64);
    let mut best: Option<(&str, usize)> = None;
    let wl = word.chars().count();
    for c in candidates {
        let cl = c.chars().count();
        let limit = (wl.max(cl) / 3).max(1);
        // The distance is at least the difference in length: most candidates end here.
        if wl.abs_diff(cl) > limit {
            continue;
        }
        let d = distance(word, c);
        if d <= limit && best.is_none_or(|(_, bd)| d < bd) {
            best = Some((c, d));
        }
    }
    best.map(|(c, _)| c)
}

/// Optimal-string-alignment distance: edits, with a swap of two neighbours counted as one.
/// Both words are at most 64 characters ([`closest`] sees to it; longer ones get `usize::MAX`):
/// three rows on the stack, no allocation (30 000 unknown fields asked for a million of these).
fn distance(a: &str, b: &str) -> usize {
    const N: usize = 65;
    let mut ab = ['\0'; N];
    let mut bb = ['\0'; N];
    let (mut la, mut lb) = (0, 0);
    for c in a.chars() {
        if la == N - 1 {
            return usize::MAX;
        }
        ab[la] = c;
        la += 1;
    }
    for c in b.chars() {
        if lb == N - 1 {
            return usize::MAX;
        }
        bb[lb] = c;
        lb += 1;
    }
    let (a, b) = (&ab[..la], &bb[..lb]);
    // Rows i-2, i-1 and i of the table.
    let mut two = [0usize; N];
    let mut one: [usize; N] = std::array::from_fn(|j| j);
    let mut cur = [0usize; N];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (one[j] + 1).min(cur[j - 1] + 1).min(one[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(two[j - 2] + 1);
            }
            cur[j] = v;
        }
        two = one;
        one = cur;
    }
    one[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_keeps_one_value_on_one_line() {
        // A value must not forge a CI workflow command or a report line, nor reach the terminal raw.
        assert_eq!(printable("plain name-1.x"), "plain name-1.x");
        assert!(matches!(printable("plain"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(printable("a\n::error ::x"), "a\\n::error ::x");
        assert_eq!(printable("\u{1b}[2J\r\t"), "\\u{1b}[2J\\r\\t");
        assert_eq!(
            printable("\u{202e}abc\u{85}\u{7f}"),
            "\\u{202e}abc\\u{85}\\u{7f}"
        );
        assert_eq!(printable("C:\\x"), "C:\\\\x");
        assert!(!printable("x\u{2028}y").contains('\u{2028}'));
    }

    // Pins that the last line's escaping is idempotent: text escaped where a message was made
    // is not escaped again, raw text still becomes one line.
    #[test]
    fn one_line_does_not_escape_twice() {
        let once = printable("DENIED\n::error x").into_owned();
        assert_eq!(one_line(&once), once);
        assert_eq!(one_line("a\nb\u{1b}"), "a\\nb\\u{1b}");
        assert_eq!(one_line("C:\\x"), "C:\\x");
    }

    // Every format but JSON writes text from the input through `printable`, at the printer: a
    // message, help, file name or source line with a line break or ESC cannot forge a workflow
    // command or reach the terminal, and the caret still points under the character it names.
    #[test]
    fn printers_escape_text_from_the_input() {
        let d = Diagnostic {
            file: "a\u{1b}[1m.yaml".into(),
            pos: Pos { line: 1, col: 4 },
            pointer: "/x\u{1b}".into(),
            code: Code::SchemaUnknownField,
            message: "unknown field `\u{1b}[2J\n::error ::forged`".into(),
            help: Some("\r\n::warning ::forged\u{202e}".into()),
        };
        let sources =
            std::collections::BTreeMap::from([(d.file.clone(), "\u{1b}b: 1\n".to_owned())]);
        for format in [Format::Human, Format::Github, Format::Sarif] {
            let text = format_all(std::slice::from_ref(&d), format, &sources);
            assert!(
                !text
                    .chars()
                    .any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'),
                "{format:?}: {text:?}"
            );
            assert!(
                !text
                    .lines()
                    .any(|l| l.starts_with("::error ::") || l.starts_with("::warning ::")),
                "{format:?}: {text}"
            );
        }
        let human = format_all(std::slice::from_ref(&d), Format::Human, &sources);
        let lines: Vec<&str> = human.lines().collect();
        assert_eq!(lines[2], "1 | \\u{1b}b: 1", "{human}");
        // Column 4 is the space after `\u{1b}b:`, which shows as 8 characters.
        assert_eq!(lines[3], "  |         ^", "{human}");
    }

    // Pins that a swapped pair counts as one edit, so `imgae` suggests `image`.
    #[test]
    fn suggestions() {
        assert_eq!(closest("imgae", ["image", "user"]), Some("image"));
        assert_eq!(
            closest("replcas", ["replicas", "restart"]),
            Some("replicas")
        );
        assert_eq!(closest("zzz", ["image"]), None);
    }

    // Pins the distance itself on the rolling rows: edits, swaps, empty and non-ASCII words, and
    // the 64-character bound.
    #[test]
    fn distances() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("ab", "ba"), 1);
        assert_eq!(distance("ca", "abc"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("abc", ""), 3);
        assert_eq!(distance("", ""), 0);
        assert_eq!(distance("größe", "grösse"), 2);
        let long = "a".repeat(64);
        assert_eq!(distance(&long, &long), 0);
        assert_eq!(distance(&"a".repeat(65), "a"), usize::MAX);
    }
}
