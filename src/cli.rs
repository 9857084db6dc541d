//! Command-line definitions. The `///` comments are the `--help` text.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::diag::Format;

/// Render docker-compose, Kubernetes manifests and systemd units from one validated deployment spec.
#[derive(Debug, Parser)]
#[command(name = "misp-gen", version, about, max_term_width = 100)]
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
    /// Print the JSON Schema (2020-12) of the spec.
    Schema,
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
