//! Command-line definitions. The `///` comments are the `--help` text.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::diag::Format;

/// What `misp-gen --version` prints: the version and the commit it was built from (build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("MISP_GEN_COMMIT"),
    ")"
);

/// Render docker-compose, Kubernetes manifests and systemd units from one validated deployment spec.
#[derive(Debug, Parser)]
#[command(name = "misp-gen", version = VERSION, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a spec: every schema and semantic error at once, each as `FILE:LINE:COL`, and a
    /// warning for each hardening question it leaves open (exit 1 on those with --deny warnings).
    Validate {
        /// The spec file.
        spec: PathBuf,
        /// Profile: `single-node`, `ha` or a path to a profile file (default: the spec's `profile`, else single-node).
        #[arg(long)]
        profile: Option<String>,
        /// Output format of the errors and warnings.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Fail (exit 1) on warnings too: `--deny warnings`, for CI gates.
        #[arg(long, value_enum)]
        deny: Option<Deny>,
        /// The same as `--deny warnings`.
        #[arg(long)]
        strict: bool,
    },
    /// Validate, then render the targets into the output directory (or compare with it: --check).
    Render {
        /// The spec file.
        spec: PathBuf,
        /// Profile: `single-node`, `ha` or a path to a profile file.
        #[arg(long)]
        profile: Option<String>,
        /// Which target to render.
        #[arg(long, value_enum, default_value_t = Target::All)]
        target: Target,
        /// Output directory.
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Render in memory and compare with the output directory; write nothing. Exit 1 on drift.
        #[arg(long)]
        check: bool,
        /// Directory of templates that replace the built-in ones by relative name (e.g. compose/compose.yaml.j2).
        #[arg(long)]
        templates: Option<PathBuf>,
        /// Registry mirror HOST[:PORT][/PATH] that every image is pulled through.
        #[arg(long)]
        registry_mirror: Option<String>,
        /// systemd flavour (default: the spec's targets.systemd.flavor, else quadlet).
        #[arg(long, value_enum)]
        flavor: Option<crate::spec::model::Flavor>,
        /// Accept one change of what holds data that the render would refuse (E700), by the name its message gives (e.g. `compose.volume.db_data`); repeat for several.
        #[arg(long, value_name = "NAME")]
        allow_state_change: Vec<String>,
    },
    /// Check an output directory against its SHA256SUMS.
    Verify {
        /// The output directory.
        dir: PathBuf,
    },
    /// List every image the deployment needs, one a line.
    Images {
        /// The spec file.
        spec: PathBuf,
        /// Profile: `single-node`, `ha` or a path to a profile file.
        #[arg(long)]
        profile: Option<String>,
        /// Registry mirror HOST[:PORT][/PATH] to rewrite the images to.
        #[arg(long)]
        registry_mirror: Option<String>,
        /// Only the images of this target (compose adds a load balancer in front of a replicated edge).
        #[arg(long, value_enum, default_value_t = Target::All)]
        target: Target,
        /// One reference a line, or JSON with each image's parts and users.
        #[arg(long, value_enum, default_value_t = ImagesFormat::List)]
        format: ImagesFormat,
    },
    /// Carry a deployment across an air gap: `bundle SPEC --out FILE` writes one archive with the
    /// rendered output, every image (an OCI image layout) and checksums; `bundle verify`, `bundle
    /// push` and `bundle load` use it on the other side.
    Bundle(BundleArgs),
    /// Print the JSON Schema (2020-12) of the spec.
    Schema,
    /// List every diagnostic code with its severity and what it is about.
    Codes {
        /// Columns of text, JSON, or the Markdown table of the book's diagnostic codes page.
        #[arg(long, value_enum, default_value_t = crate::diag::CodesFormat::Text)]
        format: crate::diag::CodesFormat,
    },
    /// Write a commented starter spec.
    Init {
        /// Where to write it (`-` for standard output).
        #[arg(default_value = "misp-gen.yaml")]
        file: PathBuf,
        /// Start from a full example instead of the small starter.
        #[arg(long, value_parser = ["misp", "portus"])]
        example: Option<String>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Turn compose files into a spec: `import compose.yaml [override.yaml…] --out spec.yaml`.
    /// Prints a conversion report (what changed meaning, what was guessed, what was not carried),
    /// each line at its compose `FILE:LINE:COL`; the spec is validated before it is written.
    Import {
        /// The compose files, in order: later files override earlier ones, as with `docker compose -f`.
        #[arg(required = true)]
        compose: Vec<PathBuf>,
        /// An env file for interpolation, instead of `.env` beside the first compose file; repeatable (later wins; the environment wins over all).
        #[arg(long = "env-file")]
        env_files: Vec<PathBuf>,
        /// Enable a compose profile (as `docker compose --profile`); repeatable. `COMPOSE_PROFILES` is read too.
        #[arg(long = "compose-profile")]
        compose_profiles: Vec<String>,
        /// Where to write the spec (default: standard output). Written whole or not at all.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Exit 1 (and write nothing) when anything was not carried.
        #[arg(long)]
        strict: bool,
        /// Write the secret values the compose project held into DIR/secrets/<name> (0600), where `render --out DIR` keeps them.
        #[arg(long, value_name = "DIR")]
        keep_secrets: Option<PathBuf>,
        /// Format of the report (human on standard error; the others on standard output when --out is given, else on standard error).
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Print a shell completion script: `misp-gen completions bash > /etc/bash_completion.d/misp-gen`
    /// (zsh: into a directory of `$fpath` as `_misp-gen`; fish: `~/.config/fish/completions/misp-gen.fish`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `misp-gen man > /usr/local/share/man/man1/misp-gen.1`; with
    /// `--out DIR`, write it and one page per command (misp-gen-render.1, ...) into DIR.
    Man {
        /// Directory to write every page into (created if missing) instead of printing the main one.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// `bundle SPEC --out FILE`, or one of its subcommands.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BundleArgs {
    #[command(subcommand)]
    pub action: Option<BundleAction>,
    /// The spec file.
    #[arg(required = true)]
    pub spec: Option<PathBuf>,
    /// Profile: `single-node`, `ha` or a path to a profile file (carried in the bundle).
    #[arg(long)]
    pub profile: Option<String>,
    /// The archive to write (replaced only when the new one is whole).
    #[arg(long, required = true)]
    pub out: Option<PathBuf>,
    /// Take the images from the local Docker or podman store (`--engine`) instead of a registry.
    #[arg(long)]
    pub from_engine: bool,
    /// The engine for --from-engine: `docker`, `podman`, or a path to either.
    #[arg(long, default_value = "docker")]
    pub engine: String,
    /// Platform `os/arch[/variant]` to bundle from multi-platform images; repeatable (default: the host's).
    #[arg(long = "platform")]
    pub platforms: Vec<String>,
    /// Pull every image through this mirror HOST[:PORT][/PATH] (default: the spec's images.mirror, else each image's registry).
    #[arg(long)]
    pub registry_mirror: Option<String>,
    /// PEM file of CA certificates to trust for the registry besides the system's (or `MISP_GEN_REGISTRY_CA`).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Reach the registries over plain HTTP instead of HTTPS (a loopback test registry); no credential is ever sent over it.
    #[arg(long)]
    pub plain_http: bool,
}

/// What to do with a bundle on the other side of the gap.
#[derive(Debug, Subcommand)]
pub enum BundleAction {
    /// Check every checksum and every image blob's digest; name each difference (exit 1).
    Verify {
        /// The bundle archive.
        file: PathBuf,
    },
    /// Push every image to the site's registry, then render the bundle's spec through it, each image pinned by digest.
    Push {
        /// The bundle archive.
        file: PathBuf,
        /// The site's registry HOST[:PORT][/PATH]; credentials from `MISP_GEN_REGISTRY_USER` and `MISP_GEN_REGISTRY_PASSWORD`.
        #[arg(long)]
        registry: String,
        /// PEM file of CA certificates to trust for the registry besides the system's (or `MISP_GEN_REGISTRY_CA`).
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// Reach the registry over plain HTTP instead of HTTPS (a loopback test registry); no credential is ever sent over it.
        #[arg(long)]
        plain_http: bool,
        /// Output directory of the render (secrets are generated there).
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Pull policy of the render (default: the spec's).
        #[arg(long, value_enum)]
        pull: Option<PullPolicy>,
        /// systemd flavour (default: the spec's targets.systemd.flavor, else quadlet).
        #[arg(long, value_enum)]
        flavor: Option<crate::spec::model::Flavor>,
    },
    /// Load every image into the local Docker or podman, then render the bundle's spec with pull policy never.
    Load {
        /// The bundle archive.
        file: PathBuf,
        /// The engine: `docker`, `podman`, or a path to either.
        #[arg(long, default_value = "docker")]
        engine: String,
        /// Output directory of the render (secrets are generated there).
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// systemd flavour (default: the spec's targets.systemd.flavor, else quadlet).
        #[arg(long, value_enum)]
        flavor: Option<crate::spec::model::Flavor>,
    },
}

/// A pull policy on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PullPolicy {
    Never,
    Missing,
    Always,
}

impl From<PullPolicy> for crate::spec::model::Pull {
    fn from(p: PullPolicy) -> Self {
        match p {
            PullPolicy::Never => crate::spec::model::Pull::Never,
            PullPolicy::Missing => crate::spec::model::Pull::Missing,
            PullPolicy::Always => crate::spec::model::Pull::Always,
        }
    }
}

/// What `validate --deny` turns into a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Deny {
    /// every warning: each hardening question the spec leaves open
    Warnings,
}

/// Output of `images`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImagesFormat {
    /// one image reference a line
    List,
    /// a JSON array of `{image, registry, repository, tag, digest, used_by}`
    Json,
}

/// Output targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// docker compose: OUT/compose/compose.yaml
    Compose,
    /// Kubernetes manifests and a kustomization: OUT/kubernetes/
    Kubernetes,
    /// systemd units (Quadlet, podman or docker): OUT/systemd/
    Systemd,
    /// every target
    All,
}

impl Target {
    /// Whether rendering `self` renders `target` (`all` renders each).
    #[must_use]
    pub fn covers(self, target: Target) -> bool {
        self == Target::All || self == target
    }
}
