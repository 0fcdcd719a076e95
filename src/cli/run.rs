//! `moat run`: the controllers, with health, metrics and leader election around them.

use std::process::ExitCode;
use std::sync::Arc;

use crate::azure::pacing::{PacingConfig, RateModel};
use crate::azure::{ArmClientConfig, AzureCloud, AzureIdentityToken, CredentialConfig, ExtraTrust, ObserverHandle, Secret, StaticToken, TokenSource};
use crate::controller::azure_arm::AzureArmProvider;
use crate::controller::resync::Resyncs;
use crate::controller::{Context, run};
use crate::runtime::{Cloud, CredentialKind, RunArgs, RunContext};

/// The ARM cloud for the flags: a built-in cloud, or a custom endpoint (the emulator).
pub fn azure_cloud(args: &RunArgs) -> AzureCloud {
    let builtin = match args.cloud {
        Cloud::Public => AzureCloud::Public,
        Cloud::UsGov => AzureCloud::UsGovernment,
        Cloud::China => AzureCloud::China,
    };
    match &args.arm_endpoint {
        Some(endpoint) if *endpoint != builtin.arm_endpoint() => AzureCloud::Custom {
            arm_endpoint: endpoint.clone(),
            authority_host: builtin.authority_host(),
            audience: builtin.audience(),
        },
        _ => builtin,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("ARM credentials: {0}")]
    Credentials(String),
    #[error("{0}")]
    Config(#[from] crate::runtime::ConfigError),
    #[error("controllers: {0}")]
    Controllers(#[from] crate::controller::Error),
}

/// moat's own identity, chosen explicitly by `--credential` (no credential chain).
fn own_token(args: &RunArgs, cloud: &AzureCloud, trust: &ExtraTrust) -> Result<Arc<dyn TokenSource>, RunError> {
    let cred = |config: CredentialConfig, secret: Option<Secret>| {
        AzureIdentityToken::from_config_with_trust(cloud, &config, secret, trust)
            .map(|t| Arc::new(t) as Arc<dyn TokenSource>)
            .map_err(|e| RunError::Credentials(e.to_string()))
    };
    match args.credential {
        CredentialKind::Static => {
            let token = args.arm_token.as_ref().ok_or_else(|| RunError::Credentials("--credential static needs --arm-token or MOAT_ARM_STATIC_TOKEN".into()))?;
            Ok(Arc::new(StaticToken::new(token.expose())))
        }
        CredentialKind::Workload => cred(CredentialConfig::WorkloadIdentity { tenant_id: None, client_id: None, token_file: None }, None),
        CredentialKind::Managed => cred(CredentialConfig::ManagedIdentity { client_id: std::env::var("AZURE_CLIENT_ID").ok() }, None),
        CredentialKind::ClientSecret => {
            let env = |k: &str| std::env::var(k).map_err(|_| RunError::Credentials(format!("--credential client-secret needs {k} in the environment")));
            let config = CredentialConfig::ClientSecret { tenant_id: env("AZURE_TENANT_ID")?, client_id: env("AZURE_CLIENT_ID")? };
            cred(config, Some(Secret::new(env("AZURE_CLIENT_SECRET")?)))
        }
    }
}

async fn controllers(ctx: RunContext) -> Result<(), RunError> {
    let args = ctx.args.clone();
    let cloud = azure_cloud(&args);
    let trust = args.arm_trust()?;
    // On SIGTERM, requests still waiting for ARM's limits give up, so the graceful shutdown does
    // not wait for them.
    let stopped = ctx.stopped();
    tokio::spawn(async move {
        stopped.await;
        crate::azure::pacing::shut_down();
    });
    let token = own_token(&args, &cloud, &trust)?;
    let pacing = PacingConfig { enabled: args.arm_pacing, model: RateModel::for_cloud(&cloud), ..PacingConfig::default() };
    // Every ARM client (moat's own identity, each credentialRef Secret) reports to the metrics.
    let observer = ObserverHandle::new(Arc::new(ctx.metrics.arm()));
    let config = ArmClientConfig { cloud, pacing, trust, observer, ..ArmClientConfig::default() };
    let settings = args.controller_settings();
    let provider = AzureArmProvider::new(ctx.client.clone(), config, token, args.tenant_id.clone(), settings.shared_read_max_age(), args.activity_log_lag())?;
    let policies = crate::tenancy::WatchedPolicies::start(ctx.client.clone());
    // A full pass may use an answer up to the shared-read age old: its baseline lies that far
    // back, and a little more for the clocks of moat and ARM.
    let resyncs = Resyncs::new(args.full_read_every, settings.resync, settings.shared_read_max_age() + crate::controller::resync::CLOCK_ALLOWANCE)
        .with_log_lag(args.activity_log_lag());
    let context = Arc::new(
        Context::new(ctx.client.clone(), Arc::new(provider), settings)
            .with_policies(policies)
            .with_observer(Arc::new(ctx.metrics.clone()))
            .with_resyncs(resyncs),
    );
    tracing::info!(namespaces = ?args.namespaces, selector = ?args.selector, endpoint = %args.arm_endpoint(), "controllers starting");
    run::run(context, args.watch_scope(), args.concurrency, Some(Arc::new(ctx.metrics.clone())), ctx.stopped()).await;
    Ok(())
}

pub fn run(args: RunArgs) -> ExitCode {
    // Freed memory goes back to the system while the controllers run (`runtime::allocator`).
    crate::runtime::allocator::keep_trimmed(crate::runtime::allocator::TRIM_EVERY);
    crate::runtime::run_blocking(args, controllers)
}
