//! The `moat` binary: controllers, CRD generation, offline validation and planning.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "moat", version, about = "Network-isolated Azure Machine Learning workspaces from Kubernetes manifests")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print every CRD as YAML (what `crds/` holds).
    Crds(moat::cli::crds::CrdsArgs),
    /// Check manifests against the CRD schemas and the constraint catalog, offline.
    Validate(moat::cli::validate::ValidateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds(args) => moat::cli::crds::run(&args),
        Command::Validate(args) => moat::cli::validate::run(&args),
    }
}
