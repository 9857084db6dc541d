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
    /// Check a spec: every schema and semantic error at once, each as FILE:LINE:COL.
    Validate {
        /// The spec file.
        spec: PathBuf,
        /// Profile: `single-node`, `ha` or a path to a profile file (default: the spec's `profile`, else single-node).
        #[arg(long)]
        profile: Option<String>,
        /// Output format of the errors.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
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
}
