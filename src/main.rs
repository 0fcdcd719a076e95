//! The `moat` binary: controllers, CRD generation, offline validation and planning.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// `moat --version`: Cargo.toml's version and the git revision build.rs stamps.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("MOAT_GIT_REVISION"), ")");

#[derive(Parser)]
#[command(name = "moat", version = VERSION, about = "Network-isolated Azure Machine Learning workspaces from Kubernetes manifests")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print every CRD as YAML (what `crds/` holds).
    Crds(moat::cli::crds::CrdsArgs),
    /// Run the controllers (kubeconfig or in-cluster).
    Run(Box<moat::runtime::RunArgs>),
    /// Print the ordered ARM actions applying the manifests would take now (reads Azure, writes nothing).
    Plan(moat::cli::plan::PlanArgs),
    /// Check manifests against the CRD schemas and the constraint catalog, offline.
    Validate(moat::cli::validate::ValidateArgs),
    /// Draw the network design of manifests (or of the cluster's objects) as Mermaid or DOT.
    Graph(moat::cli::graph::GraphArgs),
    /// Run the local ARM emulator (tests, benchmarks, demo; not in the production image).
    #[cfg(feature = "emulator")]
    Emulator(moat::emulator::EmulatorArgs),
}

#[cfg(feature = "emulator")]
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}

fn main() -> ExitCode {
    // Before any thread starts (`moat::runtime::allocator`).
    moat::runtime::allocator::tune();
    let cli = Cli::parse();
    match cli.command {
        Command::Crds(args) => moat::cli::crds::run(&args),
        Command::Validate(args) => moat::cli::validate::run(&args),
        Command::Run(args) => moat::cli::run::run(*args),
        Command::Plan(args) => moat::cli::plan::run(&args),
        Command::Graph(args) => moat::cli::graph::run(&args),
        #[cfg(feature = "emulator")]
        Command::Emulator(args) => {
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
                .with_writer(std::io::stderr)
                .init();
            match runtime().and_then(|rt| rt.block_on(moat::emulator::run_cli(args))) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: emulator: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
