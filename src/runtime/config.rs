//! `moat run` flags: [`RunArgs`].
//!
//! Only the flags live here; the reconcilers' wiring turns them into controllers. Every flag has a
//! default that suits an in-cluster Deployment, so the Helm chart passes only what its values set.
//! Secrets (the static ARM token) are wrapped in [`SecretToken`], whose `Debug` and `Display` never
//! show the value, so `?args` is safe to log.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, ValueEnum};
use url::Url;

/// Environment variable that can carry the static ARM token (emulator only).
pub const STATIC_TOKEN_ENV: &str = "MOAT_ARM_STATIC_TOKEN";

/// Default lease name for leader election.
pub const DEFAULT_LEASE_NAME: &str = "moat-leader";

/// Flags of `moat run`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Kubeconfig file to use. Without it: KUBECONFIG, ~/.kube/config, then the in-cluster
    /// service account (`kube::Config::infer`).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// ARM base URL. Defaults to the endpoint of `--cloud`; set it for the emulator or a private cloud.
    #[arg(long, value_name = "URL")]
    pub arm_endpoint: Option<Url>,

    /// Azure cloud: selects the default ARM endpoint, the Entra ID authority and the token audience.
    #[arg(long, value_enum, default_value_t = Cloud::Public)]
    pub cloud: Cloud,

    /// Subscriptions moat may touch at all, comma separated, or `*` for any; empty also means
    /// any. It caps every AzureScopePolicy: an id in another subscription is refused with a
    /// condition whatever the policies grant.
    #[arg(long, value_delimiter = ',', value_name = "UUID,...|*", value_parser = parse_subscription)]
    pub allowed_subscriptions: Vec<String>,

    /// Steady-state re-read period of every object, in seconds.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub resync_seconds: u64,

    /// Every N-th resync of a converged object reads all it observes; the resyncs between ask
    /// Azure's Activity Log of its resource groups what anyone wrote or deleted since its last
    /// full read, and read nothing else when none of it concerns the object. 1: every resync
    /// reads everything (no Activity Log; needs no `Microsoft.Insights/eventtypes/values/read`).
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=10_000), value_name = "N")]
    pub full_read_every: u32,

    /// How long after a change ARM may publish it in the Activity Log, in seconds. A resync asks
    /// the log from its last answer's time less this (and a 10 s allowance for the clocks); a
    /// change published later than that is put back at the next full read instead
    /// (`--full-read-every`). Larger: safer, each query longer.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(0..=86_400), value_name = "SECONDS")]
    pub activity_log_lag_seconds: u64,

    /// Requeue interval, in seconds, while an object is still converging.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub retry_seconds: u64,

    /// Interval, in seconds, between reads of a resource that another operation holds.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub busy_poll_seconds: u64,

    /// Longest a reconcile waits on Azure operations before requeueing, in seconds; the
    /// operations stay recorded in status and are resumed, never started again.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub operation_budget_seconds: u64,

    /// Microsoft Entra tenant for the key vaults moat creates when a SecureWorkspace sets no
    /// `spec.tenantId`. Defaults to AZURE_TENANT_ID.
    #[arg(long, env = "AZURE_TENANT_ID", value_name = "UUID")]
    pub tenant_id: Option<String>,

    /// Address of the health and metrics server (`/healthz`, `/readyz`, `/metrics`).
    #[arg(long, default_value = "0.0.0.0:8080", value_name = "ADDR:PORT")]
    pub metrics_addr: SocketAddr,

    /// PEM certificate (chain) to serve the health and metrics server over HTTPS instead of
    /// HTTP; needs --metrics-tls-key. Read at start (restart to rotate).
    #[arg(long, value_name = "PATH", requires = "metrics_tls_key")]
    pub metrics_tls_cert: Option<PathBuf>,

    /// PEM private key of --metrics-tls-cert.
    #[arg(long, value_name = "PATH", requires = "metrics_tls_cert")]
    pub metrics_tls_key: Option<PathBuf>,

    /// File holding the bearer token a scraper must send to `/metrics`
    /// (`Authorization: Bearer <token>`); read at each scrape, so it can rotate. Needs HTTPS
    /// (--metrics-tls-cert): a token is never accepted over plain HTTP. Probes stay open.
    #[arg(long, value_name = "PATH")]
    pub metrics_token_file: Option<PathBuf>,

    /// Elect a leader through a coordination.k8s.io Lease before reconciling. Turn off
    /// (`--leader-elect=false`) only for local runs and tests with a single instance.
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", value_name = "BOOL")]
    pub leader_elect: bool,

    /// Namespace of the leader-election Lease. Defaults to POD_NAMESPACE, then the in-cluster
    /// service-account namespace, then `default`.
    #[arg(long, value_name = "NAMESPACE")]
    pub leader_election_namespace: Option<String>,

    /// Name of the leader-election Lease.
    #[arg(long, default_value = DEFAULT_LEASE_NAME, value_name = "NAME")]
    pub lease_name: String,

    /// Watch only these namespaces (comma separated, or the flag repeated); one watch per
    /// namespace, so RBAC may be granted in those namespaces only. Default: all namespaces.
    #[arg(long = "namespace", value_name = "NAMESPACE,...", value_delimiter = ',')]
    pub namespaces: Vec<String>,

    /// Reconcile only the objects whose labels match this selector (`kubectl -l` syntax, e.g.
    /// `moat.dev/shard=a`): shards a fleet over several moat installs, each with its own Lease.
    /// PrivateEndpointBindings a SecureWorkspace creates carry its labels.
    #[arg(long, value_name = "SELECTOR")]
    pub selector: Option<String>,

    /// Objects reconciled at the same time, per controller. A reconcile waits on its Azure
    /// operations (up to --operation-budget-seconds), asleep and cheap, so this is generous;
    /// ARM itself sees at most 16 requests in flight per subscription. While a reconcile waits
    /// for its turn on a parent ARM serialises (a privatelink zone, a VNet) it lends its worker
    /// to the next one and carries on on a spare slot: at most twice this many run at once.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,

    /// Log line format: `text` (human-readable; coloured only when stderr is a terminal and
    /// NO_COLOR is unset) or `json` (one object per line). Logs go to stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log filter, RUST_LOG syntax: a level (`debug`) or directives (`info,moat=debug,kube=warn`).
    /// A non-empty RUST_LOG in the environment wins over this flag. Default `info`.
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,

    /// Static ARM bearer token, for the emulator only (`--credential static`). Never logged.
    #[arg(long, env = STATIC_TOKEN_ENV, hide_env_values = true, value_name = "TOKEN")]
    pub arm_token: Option<SecretToken>,

    /// How moat authenticates to ARM. Explicit: there is no credential chain.
    #[arg(long, value_enum, default_value_t = CredentialKind::Workload)]
    pub credential: CredentialKind,

    /// PEM file of CA certificates moat trusts for ARM and for its token requests, in addition to
    /// the system's roots (a private cloud's CA, or the ARM emulator's `--ca-file`).
    /// `SSL_CERT_FILE` also works but replaces the system's roots.
    #[arg(long, env = "MOAT_ARM_CA_FILE", value_name = "PATH")]
    pub arm_ca_file: Option<PathBuf>,

    /// Pace ARM requests so moat stays under ARM's request limits (per subscription and principal,
    /// fed by the x-ms-ratelimit-remaining-* headers): writes and converging reads go before
    /// steady-state reads, and moat slows down before ARM answers 429. `false` only for
    /// comparisons.
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", value_name = "BOOL")]
    pub arm_pacing: bool,
}

/// Azure clouds with built-in endpoints.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[value(rename_all = "PascalCase")]
pub enum Cloud {
    /// Azure public cloud.
    #[default]
    Public,
    /// Azure US Government.
    UsGov,
    /// Azure China (21Vianet).
    China,
}

impl Cloud {
    /// ARM base URL of the cloud, with a trailing slash.
    pub fn arm_endpoint(self) -> Url {
        let s = match self {
            Cloud::Public => "https://management.azure.com/",
            Cloud::UsGov => "https://management.usgovcloudapi.net/",
            Cloud::China => "https://management.chinacloudapi.cn/",
        };
        // The literals are valid URLs; `cloud_urls_parse` checks them.
        Url::parse(s).unwrap_or_else(|e| panic!("built-in URL {s}: {e}"))
    }

    /// Entra ID authority host of the cloud.
    pub fn authority_host(self) -> Url {
        let s = match self {
            Cloud::Public => "https://login.microsoftonline.com/",
            Cloud::UsGov => "https://login.microsoftonline.us/",
            Cloud::China => "https://login.chinacloudapi.cn/",
        };
        Url::parse(s).unwrap_or_else(|e| panic!("built-in URL {s}: {e}"))
    }

    /// OAuth scope for ARM tokens of the cloud (`{arm endpoint}/.default`).
    pub fn arm_scope(self) -> String {
        format!("{}/.default", self.arm_endpoint().as_str().trim_end_matches('/'))
    }
}

/// `--log-format`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// `--credential`: where the ARM token comes from.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CredentialKind {
    /// AKS workload identity (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE).
    #[default]
    Workload,
    /// The node's or pod's managed identity (IMDS).
    Managed,
    /// A service principal secret (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET).
    ClientSecret,
    /// A fixed bearer token from `--arm-token` / MOAT_ARM_STATIC_TOKEN: the emulator only.
    Static,
}

/// A bearer token that never shows up in logs, `Debug` output or error messages.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretToken(String);

impl SecretToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself; use it only to build an `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken(<redacted>)")
    }
}

impl fmt::Display for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::str::FromStr for SecretToken {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// Inconsistent `moat run` flags.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// `--credential static` without a token.
    #[error("--credential static needs --arm-token or {STATIC_TOKEN_ENV}")]
    MissingStaticToken,
    /// A static token given with another credential kind: refused so it is never sent by accident.
    #[error("--arm-token / {STATIC_TOKEN_ENV} is only accepted with --credential static (got --credential {0:?})")]
    UnexpectedStaticToken(CredentialKind),
    /// A namespace flag that is not a DNS-1123 label.
    #[error("{flag} {value:?} is not a valid namespace name (DNS-1123 label)")]
    InvalidNamespace {
        /// The flag carrying the value.
        flag: &'static str,
        /// The value given.
        value: String,
    },
    /// A `--selector` that is not a label selector.
    #[error("--selector {value:?}: {reason}; use the syntax of `kubectl get -l`, e.g. `moat.dev/shard=a`, `tier in (a,b)`, `!legacy`")]
    InvalidSelector {
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The ARM endpoint must be http(s).
    #[error("--arm-endpoint {0} must be an http or https URL")]
    InvalidArmEndpoint(String),
    /// `--arm-ca-file` is not a usable PEM file.
    #[error("--arm-ca-file: {0}")]
    InvalidArmCaFile(String),
    /// A metrics token without HTTPS would travel in clear text.
    #[error("--metrics-token-file needs --metrics-tls-cert and --metrics-tls-key: a bearer token is never accepted over plain HTTP")]
    TokenWithoutTls,
}

impl RunArgs {
    /// Checks the flags that clap cannot check one by one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match (self.credential, &self.arm_token) {
            (CredentialKind::Static, None) => return Err(ConfigError::MissingStaticToken),
            (CredentialKind::Static, Some(_)) | (_, None) => {}
            (other, Some(_)) => return Err(ConfigError::UnexpectedStaticToken(other)),
        }
        let namespaces = self.namespaces.iter().map(|n| ("--namespace", n));
        for (flag, v) in namespaces.chain(self.leader_election_namespace.iter().map(|n| ("--leader-election-namespace", n))) {
            if !is_dns1123_label(v) {
                return Err(ConfigError::InvalidNamespace { flag, value: v.clone() });
            }
        }
        if let Some(selector) = &self.selector {
            check_label_selector(selector).map_err(|reason| ConfigError::InvalidSelector { value: selector.clone(), reason })?;
        }
        if let Some(u) = &self.arm_endpoint
            && !matches!(u.scheme(), "http" | "https")
        {
            return Err(ConfigError::InvalidArmEndpoint(u.to_string()));
        }
        if self.metrics_token_file.is_some() && self.metrics_tls_cert.is_none() {
            return Err(ConfigError::TokenWithoutTls);
        }
        self.arm_trust()?;
        Ok(())
    }

    /// The CA certificates of `--arm-ca-file` (none without the flag).
    pub fn arm_trust(&self) -> Result<crate::azure::ExtraTrust, ConfigError> {
        match &self.arm_ca_file {
            None => Ok(crate::azure::ExtraTrust::default()),
            Some(p) => crate::azure::ExtraTrust::from_file(p).map_err(|e| ConfigError::InvalidArmCaFile(e.to_string())),
        }
    }

    /// The ARM base URL: `--arm-endpoint`, else the cloud's.
    pub fn arm_endpoint(&self) -> Url {
        self.arm_endpoint.clone().unwrap_or_else(|| self.cloud.arm_endpoint())
    }

    /// The steady-state resync period.
    pub fn resync(&self) -> Duration {
        Duration::from_secs(self.resync_seconds)
    }

    /// The reconcilers' settings from these flags (the rest keep their defaults).
    /// `--activity-log-lag-seconds`.
    pub fn activity_log_lag(&self) -> Duration {
        Duration::from_secs(self.activity_log_lag_seconds)
    }

    pub fn controller_settings(&self) -> crate::controller::Settings {
        crate::controller::Settings {
            allowed_subscriptions: self.allowed_subscriptions.clone(),
            resync: self.resync(),
            retry: Duration::from_secs(self.retry_seconds),
            busy_poll: Duration::from_secs(self.busy_poll_seconds),
            operation_budget: Duration::from_secs(self.operation_budget_seconds),
            progress_every: Duration::from_secs(10),
        }
    }

    /// What the controllers watch: these namespaces (all when empty), objects matching the selector.
    pub fn watch_scope(&self) -> crate::controller::run::Scope {
        crate::controller::run::Scope { namespaces: self.namespaces.clone(), selector: self.selector.clone() }
    }

    /// Whether moat may act in `subscription_id` (case-insensitive; an empty allow-list allows all).
    pub fn subscription_allowed(&self, subscription_id: &str) -> bool {
        self.allowed_subscriptions.is_empty()
            || self.allowed_subscriptions.iter().any(|s| s == "*" || s.eq_ignore_ascii_case(subscription_id))
    }
}

/// Parses one `--allowed-subscriptions` entry: a subscription id in UUID form, lower-cased, or
/// `*` (any subscription, said explicitly).
fn parse_subscription(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s == "*" {
        return Ok(s.to_string());
    }
    uuid::Uuid::try_parse(s)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| format!("{s:?} is not a subscription id (UUID such as 00000000-0000-0000-0000-000000000000) or *"))
}

/// Checks a label selector as the apiserver parses it (k8s.io/apimachinery labels.Parse):
/// comma-separated requirements `key`, `!key`, `key=v`, `key==v`, `key!=v`, `key in (v,...)`,
/// `key notin (v,...)`, `key>n`, `key<n`. Returns what is wrong.
pub fn check_label_selector(selector: &str) -> Result<(), String> {
    if selector.trim().is_empty() {
        return Err("it is empty (leave the flag out to reconcile every object)".into());
    }
    // Split on the commas outside parentheses.
    let (mut depth, mut start, mut parts) = (0i32, 0, Vec::new());
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if !(0..=1).contains(&depth) {
            return Err("unbalanced parentheses".into());
        }
    }
    if depth != 0 {
        return Err("unbalanced parentheses".into());
    }
    parts.push(&selector[start..]);
    for part in parts {
        check_requirement(part.trim())?;
    }
    Ok(())
}

fn check_requirement(r: &str) -> Result<(), String> {
    if r.is_empty() {
        return Err("an empty requirement (two commas in a row?)".into());
    }
    if let Some(key) = r.strip_prefix('!') {
        return check_label_key(key.trim());
    }
    let words: Vec<&str> = r.splitn(2, |c: char| c.is_whitespace() || c == '(').collect();
    if let [key, _] = words[..] {
        let rest = r[key.len()..].trim_start();
        for op in ["notin", "in"] {
            if let Some(set) = rest.strip_prefix(op).map(str::trim)
                && set.starts_with('(')
            {
                let inner = set.strip_prefix('(').and_then(|s| s.strip_suffix(')')).ok_or_else(|| format!("`{r}`: the values of `{op}` go in one pair of parentheses"))?;
                check_label_key(key)?;
                return inner.split(',').try_for_each(|v| check_label_value(v.trim()));
            }
        }
    }
    for op in ["!=", "==", "=", ">", "<"] {
        if let Some((key, value)) = r.split_once(op) {
            check_label_key(key.trim())?;
            let value = value.trim();
            if matches!(op, ">" | "<") {
                return value.parse::<i64>().map(|_| ()).map_err(|_| format!("`{r}`: `{op}` compares with an integer"));
            }
            return check_label_value(value);
        }
    }
    check_label_key(r)
}

/// A label name: 1-63 alphanumerics with `-_.` inside.
fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn check_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix
        && (p.is_empty() || p.len() > 253 || !p.split('.').all(is_dns1123_label))
    {
        return Err(format!("label key `{key}`: the prefix before `/` must be a DNS subdomain such as moat.dev"));
    }
    if !is_label_name(name) {
        return Err(format!("label key `{key}`: a name is 1-63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit"));
    }
    Ok(())
}

fn check_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() || is_label_name(value) {
        Ok(())
    } else {
        Err(format!("label value `{value}`: at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit"))
    }
}

/// A DNS-1123 label: what Kubernetes accepts as a namespace name.
fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn parse(args: &[&str]) -> Result<RunArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("moat").chain(args.iter().copied())).map(|c| c.run)
    }

    #[test]
    fn defaults_suit_a_deployment() {
        // SAFETY-free: the env var is only read, and no test sets it.
        let a = parse(&[]).expect("defaults parse");
        assert!(a.leader_elect);
        assert_eq!(a.lease_name, "moat-leader");
        assert_eq!(a.resync_seconds, 300);
        assert_eq!(a.concurrency, 32);
        assert_eq!(a.metrics_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(a.cloud, Cloud::Public);
        assert_eq!(a.credential, CredentialKind::Workload);
        assert!(a.arm_pacing);
        assert!(a.arm_ca_file.is_none() && a.arm_trust().expect("no CA file").is_empty());
        assert_eq!(a.arm_endpoint().as_str(), "https://management.azure.com/");
        assert!(a.subscription_allowed("anything"));
        let settings = a.controller_settings();
        assert_eq!(settings.resync, Duration::from_secs(300));
        assert!(settings.allowed_subscriptions.is_empty());
    }

    #[test]
    fn leader_elect_takes_an_explicit_bool() {
        assert!(!parse(&["--leader-elect=false"]).expect("parse").leader_elect);
        assert!(parse(&["--leader-elect"]).expect("parse").leader_elect);
    }

    #[test]
    fn cloud_selects_endpoint_unless_overridden() {
        let a = parse(&["--cloud", "UsGov"]).expect("parse");
        assert_eq!(a.arm_endpoint().as_str(), "https://management.usgovcloudapi.net/");
        assert_eq!(a.cloud.arm_scope(), "https://management.usgovcloudapi.net/.default");
        let a = parse(&["--cloud", "China", "--arm-endpoint", "http://127.0.0.1:9000/"]).expect("parse");
        assert_eq!(a.arm_endpoint().as_str(), "http://127.0.0.1:9000/");
    }

    #[test]
    fn cloud_urls_parse() {
        for c in Cloud::value_variants() {
            let _ = c.arm_endpoint();
            let _ = c.authority_host();
        }
    }

    #[test]
    fn allowed_subscriptions_are_uuids_compared_case_insensitively() {
        let a = parse(&[
            "--allowed-subscriptions",
            "AAAAAAAA-0000-0000-0000-000000000001, 00000000-0000-0000-0000-000000000002",
        ])
        .expect("parse");
        assert_eq!(a.allowed_subscriptions.len(), 2);
        assert!(a.subscription_allowed("aaaaaaaa-0000-0000-0000-000000000001"));
        assert!(a.subscription_allowed("00000000-0000-0000-0000-000000000002"));
        assert!(!a.subscription_allowed("00000000-0000-0000-0000-000000000003"));
        assert!(parse(&["--allowed-subscriptions", "prod"]).is_err());
        let any = parse(&["--allowed-subscriptions", "*"]).expect("parse");
        assert!(any.subscription_allowed("00000000-0000-0000-0000-000000000003"));
        assert_eq!(any.controller_settings().allowed_subscriptions, vec!["*".to_string()]);
    }

    #[test]
    fn static_token_only_with_static_credential_and_never_printed() {
        let a = parse(&["--credential", "static", "--arm-token", "s3cr3t"]).expect("parse");
        assert_eq!(a.validate(), Ok(()));
        let debug = format!("{a:?}");
        assert!(!debug.contains("s3cr3t"), "token leaked into Debug: {debug}");
        assert_eq!(a.arm_token.as_ref().map(SecretToken::expose), Some("s3cr3t"));

        let a = parse(&["--credential", "static"]).expect("parse");
        assert_eq!(a.validate(), Err(ConfigError::MissingStaticToken));
        let a = parse(&["--arm-token", "s3cr3t"]).expect("parse");
        assert_eq!(a.validate(), Err(ConfigError::UnexpectedStaticToken(CredentialKind::Workload)));
        assert!(!a.validate().expect_err("refused").to_string().contains("s3cr3t"));
    }

    #[test]
    #[cfg(feature = "emulator")]
    fn arm_ca_file_must_hold_certificates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bad = dir.path().join("ca.pem");
        std::fs::write(&bad, "not a certificate").expect("write");
        let a = parse(&["--arm-ca-file", bad.to_str().expect("utf-8"), "--arm-pacing=false"]).expect("parse");
        assert!(!a.arm_pacing);
        let e = a.validate().expect_err("refused");
        assert!(e.to_string().starts_with("--arm-ca-file:") && e.to_string().contains("ca.pem"), "{e}");
        let tls = crate::emulator::EmulatorTls::generate().expect("a CA");
        std::fs::write(&bad, tls.ca_pem()).expect("write");
        assert!(!a.arm_trust().expect("a CA file").is_empty());
    }

    #[test]
    fn metrics_tls_flags_come_in_pairs_and_a_token_needs_tls() {
        assert!(parse(&["--metrics-tls-cert", "c.pem"]).is_err(), "a certificate needs its key");
        assert!(parse(&["--metrics-tls-key", "k.pem"]).is_err(), "a key needs its certificate");
        let a = parse(&["--metrics-token-file", "t"]).expect("parse");
        assert_eq!(a.validate(), Err(ConfigError::TokenWithoutTls));
        let a = parse(&["--metrics-tls-cert", "c.pem", "--metrics-tls-key", "k.pem", "--metrics-token-file", "t"]).expect("parse");
        assert_eq!(a.validate(), Ok(()));
    }

    #[test]
    fn bounds_and_namespaces_are_checked() {
        assert!(parse(&["--concurrency", "0"]).is_err());
        assert!(parse(&["--resync-seconds", "0"]).is_err());
        let a = parse(&["--namespace", "Bad_NS"]).expect("parse");
        assert!(matches!(a.validate(), Err(ConfigError::InvalidNamespace { flag: "--namespace", .. })));
        let a = parse(&["--credential", "client-secret", "--namespace", "team-a"]).expect("parse");
        assert_eq!(a.validate(), Ok(()));
    }

    #[test]
    fn several_namespaces_comma_separated_or_repeated() {
        let a = parse(&["--namespace", "team-a,team-b", "--namespace", "team-c"]).expect("parse");
        assert_eq!(a.namespaces, ["team-a", "team-b", "team-c"]);
        assert_eq!(a.validate(), Ok(()));
        assert_eq!(a.watch_scope().namespaces, ["team-a", "team-b", "team-c"]);
        assert!(parse(&[]).expect("parse").watch_scope().namespaces.is_empty(), "no flag: every namespace");
        let a = parse(&["--namespace", "team-a,Team_B"]).expect("parse");
        assert_eq!(a.validate(), Err(ConfigError::InvalidNamespace { flag: "--namespace", value: "Team_B".into() }));
    }

    #[test]
    fn selectors_follow_the_apiserver_grammar() {
        for ok in [
            "moat.dev/shard=a",
            "shard==a,tier!=b",
            "tier in (a, b),!legacy",
            "env notin (dev),team",
            "priority>3",
            "moat.dev/shard=",
        ] {
            let a = parse(&["--selector", ok]).expect("parse");
            assert_eq!(a.validate(), Ok(()), "{ok}");
            assert_eq!(a.watch_scope().selector.as_deref(), Some(ok));
        }
        for (bad, why) in [
            ("", "empty"),
            ("shard=a,,tier=b", "empty requirement"),
            ("tier in (a,b", "unbalanced"),
            ("Shard Name=a", "label key"),
            ("shard=has space", "label value"),
            ("-shard=a", "label key"),
            ("bad_prefix!/x=y", "prefix"),
            ("priority>high", "integer"),
        ] {
            let err = parse(&[&format!("--selector={bad}")]).expect("parse").validate().expect_err(bad).to_string();
            assert!(err.contains(why) && err.starts_with("--selector") && err.contains("kubectl get -l"), "{bad}: {err}");
        }
    }
}
