//! The `moat emulator` subcommand.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;

use super::identity::DEFAULT_IDENTITY_HEADER;
use super::ratelimit::{ArmLimits, ThrottleModel};
use super::{Emulator, EmulatorConfig, EmulatorTls, MSI_PATH, serve_with_shutdown};

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
    /// Enforce ARM's request limits with 429 + Retry-After (per subscription and principal,
    /// all principals together, Microsoft.Network and Private DNS per region). Without it the
    /// limits are only reported, in the x-ms-ratelimit-remaining-* headers.
    #[arg(long)]
    pub enforce_rate_limits: bool,
    /// ARM's throttling model: `regional` (the public cloud's token buckets) or `hourly`
    /// (sovereign clouds: 12,000 reads, 1,200 writes, 15,000 deletes an hour).
    #[arg(long, value_enum, default_value_t = ThrottleModel::Regional)]
    pub throttle_model: ThrottleModel,
    /// Write the emulator's CA certificate (PEM) here, for `moat run --arm-ca-file`,
    /// `SSL_CERT_FILE` or `curl --cacert`. The emulator serves HTTPS only.
    #[arg(long, value_name = "PATH", env = "MOAT_EMULATOR_CA_FILE")]
    pub ca_file: Option<std::path::PathBuf>,
    /// The X-IDENTITY-HEADER value the managed-identity endpoint (`/msi/token`) requires: give it
    /// to clients as IDENTITY_HEADER.
    #[arg(long, default_value = DEFAULT_IDENTITY_HEADER, env = "MOAT_EMULATOR_IDENTITY_HEADER", hide_env_values = true)]
    pub identity_header: String,
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
            limits: ArmLimits::for_model(self.throttle_model),
            identity_header: self.identity_header.clone(),
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

/// Binds, writes the CA file (when asked), prints the base URL on stdout once listening, serves
/// HTTPS until SIGINT/SIGTERM.
pub async fn run_cli(args: EmulatorArgs) -> std::io::Result<()> {
    let listener = TcpListener::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    let tls = EmulatorTls::generate().map_err(std::io::Error::other)?;
    if let Some(path) = &args.ca_file {
        std::fs::write(path, tls.ca_pem()).map_err(|e| std::io::Error::new(e.kind(), format!("--ca-file {}: {e}", path.display())))?;
    }
    let emulator = Emulator::new(args.config());
    println!("https://{addr}");
    tracing::info!(
        %addr,
        identity_endpoint = %format!("https://{addr}{MSI_PATH}"),
        enforce_rate_limits = args.enforce_rate_limits,
        throttle_model = ?args.throttle_model,
        "ARM emulator listening (HTTPS)"
    );
    serve_with_shutdown(listener, emulator, &tls, shutdown_signal()).await
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
