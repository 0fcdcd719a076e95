//! The `moat emulator` subcommand.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;

use super::{Emulator, EmulatorConfig, serve_with_shutdown};

/// `moat emulator`: serve the ARM emulator until SIGINT/SIGTERM.
#[derive(Debug, Clone, clap::Args)]
pub struct EmulatorArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8089", env = "MOAT_EMULATOR_LISTEN")]
    pub listen: SocketAddr,
    /// Polls an operation stays in progress before it completes.
    #[arg(long, default_value_t = 1)]
    pub polls: u32,
    /// Retry-After seconds sent on long-running operations.
    #[arg(long, default_value_t = 1)]
    pub retry_after: u64,
    /// Latency added to every ARM request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Resource group to create at start, as SUBSCRIPTION/NAME (repeatable).
    #[arg(long = "seed-resource-group", value_name = "SUB/RG", value_parser = parse_sub_rg)]
    pub seed_resource_group: Vec<(String, String)>,
    /// Bearer token every ARM request must carry ("*": any token).
    #[arg(long, env = "MOAT_EMULATOR_TOKEN")]
    pub token: Option<String>,
    /// Location used where none is given.
    #[arg(long, default_value = "eastus")]
    pub location: String,
    /// Items per list page.
    #[arg(long, default_value_t = 100)]
    pub page_size: usize,
    /// Refuse private endpoints in subnets with privateEndpointNetworkPolicies=Enabled.
    #[arg(long)]
    pub strict_pe_network_policies: bool,
    /// Answer 429 when a subscription's ARM token bucket runs dry.
    #[arg(long)]
    pub enforce_rate_limits: bool,
}

fn parse_sub_rg(s: &str) -> Result<(String, String), String> {
    match s.split_once('/') {
        Some((sub, rg)) if !sub.is_empty() && !rg.is_empty() && !rg.contains('/') => {
            Ok((sub.to_string(), rg.to_string()))
        }
        _ => Err(format!("expected SUBSCRIPTION/RESOURCE_GROUP, got '{s}'")),
    }
}

impl EmulatorArgs {
    pub fn config(&self) -> EmulatorConfig {
        EmulatorConfig {
            polls_to_complete: self.polls,
            retry_after_secs: self.retry_after,
            latency: Duration::from_millis(self.latency_ms),
            strict_pe_network_policies: self.strict_pe_network_policies,
            require_token: self.token.clone(),
            location_default: self.location.clone(),
            page_size: self.page_size.max(1),
            enforce_rate_limits: self.enforce_rate_limits,
            resource_groups: self.seed_resource_group.clone(),
            ..EmulatorConfig::default()
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Binds, prints the base URL on stdout once listening, serves until SIGINT/SIGTERM.
pub async fn run_cli(args: EmulatorArgs) -> std::io::Result<()> {
    let listener = TcpListener::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    let emulator = Emulator::new(args.config());
    println!("http://{addr}");
    tracing::info!(%addr, "ARM emulator listening");
    serve_with_shutdown(listener, emulator, shutdown_signal()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: EmulatorArgs,
    }

    #[test]
    fn parses_flags() {
        let c = Cli::try_parse_from([
            "x",
            "--polls",
            "0",
            "--seed-resource-group",
            "sub1/rg1",
            "--seed-resource-group",
            "sub1/rg2",
            "--latency-ms",
            "5",
        ])
        .unwrap();
        let cfg = c.args.config();
        assert_eq!(cfg.polls_to_complete, 0);
        assert_eq!(cfg.resource_groups.len(), 2);
        assert_eq!(cfg.latency, Duration::from_millis(5));
        assert!(Cli::try_parse_from(["x", "--seed-resource-group", "nope"]).is_err());
    }
}
