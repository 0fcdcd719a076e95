//! Temporary wiring of `moat emulator` (the real main.rs is written elsewhere and merged by hand).
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "moat",
    version,
    about = "Operator for network-isolated Azure ML workspaces"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the local ARM emulator (tests, benchmarks, demo).
    #[cfg(feature = "emulator")]
    Emulator(moat::emulator::EmulatorArgs),
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        #[cfg(feature = "emulator")]
        Command::Emulator(args) => moat::emulator::run_cli(args).await,
    }
}
