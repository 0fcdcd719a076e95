//! Where the bearer token comes from.
//!
//! Real Azure: an azure_identity credential chosen explicitly (workload identity, managed
//! identity or client secret; azure_identity 1.x has no `DefaultAzureCredential`, see
//! rust-operator-craft.md §6). The emulator: a static token. Tokens are never logged: the
//! returned [`Secret`] has a redacting `Debug`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
pub use azure_core::credentials::Secret;
use azure_core::credentials::TokenCredential;
use azure_core::http::ClientOptions;
use azure_identity::{
    ClientSecretCredential, ClientSecretCredentialOptions, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use tokio::sync::Mutex;

use super::cloud::AzureCloud;
use super::error::{ArmError, ArmErrorKind, Result};
use super::trust::ExtraTrust;

/// Supplies ARM bearer tokens.
#[async_trait]
pub trait TokenSource: Send + Sync {
    /// A token valid for ARM now.
    async fn token(&self) -> Result<Secret>;
    /// Forget any cached token (the client calls this after a 401).
    fn invalidate(&self) {}
}

/// A fixed token, for the emulator and tests.
#[derive(Clone)]
pub struct StaticToken(Secret);

impl StaticToken {
    /// A source that always returns `token`.
    pub fn new(token: impl Into<String>) -> Self {
        Self(Secret::new(token.into()))
    }
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StaticToken(<redacted>)")
    }
}

#[async_trait]
impl TokenSource for StaticToken {
    async fn token(&self) -> Result<Secret> {
        Ok(self.0.clone())
    }
}

/// How to authenticate to real Azure.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum CredentialConfig {
    /// AKS workload identity (federated service-account token). Unset fields fall back to
    /// `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and `AZURE_FEDERATED_TOKEN_FILE`, which the AKS
    /// webhook injects.
    #[serde(rename_all = "camelCase")]
    WorkloadIdentity {
        /// Tenant id override.
        #[serde(default)]
        tenant_id: Option<String>,
        /// Client id override.
        #[serde(default)]
        client_id: Option<String>,
        /// Token file override.
        #[serde(default)]
        token_file: Option<PathBuf>,
    },
    /// Managed identity (IMDS / App Service). `client_id` selects a user-assigned identity.
    #[serde(rename_all = "camelCase")]
    ManagedIdentity {
        /// Client id of a user-assigned identity; system-assigned when absent.
        #[serde(default)]
        client_id: Option<String>,
    },
    /// A service principal with a client secret. The secret itself is passed separately
    /// (from a Kubernetes Secret), never through this config.
    #[serde(rename_all = "camelCase")]
    ClientSecret {
        /// Tenant id.
        tenant_id: String,
        /// Application (client) id.
        client_id: String,
    },
}

impl Default for CredentialConfig {
    /// Workload identity configured entirely from the environment.
    fn default() -> Self {
        CredentialConfig::WorkloadIdentity {
            tenant_id: None,
            client_id: None,
            token_file: None,
        }
    }
}

struct Cached {
    token: Secret,
    expires_on: azure_core::time::OffsetDateTime,
}

/// An azure_identity credential plus a token cache that refreshes shortly before expiry.
pub struct AzureIdentityToken {
    credential: Arc<dyn TokenCredential>,
    scope: String,
    refresh_before: Duration,
    cache: Mutex<Option<Cached>>,
}

impl fmt::Debug for AzureIdentityToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureIdentityToken")
            .field("credential", &self.credential)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

fn auth_err(what: &str, e: azure_core::Error) -> ArmError {
    ArmError::from(ArmErrorKind::Auth {
        message: format!("{what}: {e}"),
        source: Some(Box::new(e)),
    })
}

impl AzureIdentityToken {
    /// Wraps any credential; `scope` is usually [`AzureCloud::token_scope`].
    pub fn from_credential(credential: Arc<dyn TokenCredential>, scope: impl Into<String>) -> Self {
        Self {
            credential,
            scope: scope.into(),
            refresh_before: Duration::from_secs(300),
            cache: Mutex::new(None),
        }
    }

    fn client_options(cloud: &AzureCloud, trust: &ExtraTrust) -> Result<ClientOptions> {
        let options = ClientOptions {
            cloud: Some(Arc::new(cloud.to_azure_core())),
            ..Default::default()
        };
        trust.azure_client_options(options).map_err(|e| ArmError::config(e.to_string()))
    }

    /// Builds the credential named by `config` for `cloud`. `client_secret` is required for
    /// [`CredentialConfig::ClientSecret`] and ignored otherwise.
    pub fn from_config(cloud: &AzureCloud, config: &CredentialConfig, client_secret: Option<Secret>) -> Result<Self> {
        Self::from_config_with_trust(cloud, config, client_secret, &ExtraTrust::default())
    }

    /// [`Self::from_config`] whose token requests also trust the CAs of `trust` (the managed
    /// identity endpoint or authority of a private cloud, the emulator's).
    ///
    /// The managed-identity credential reads `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` (App
    /// Service protocol, `api-version=2019-08-01`) when both are set, else IMDS.
    pub fn from_config_with_trust(cloud: &AzureCloud, config: &CredentialConfig, client_secret: Option<Secret>, trust: &ExtraTrust) -> Result<Self> {
        let credential: Arc<dyn TokenCredential> = match config {
            CredentialConfig::WorkloadIdentity {
                tenant_id,
                client_id,
                token_file,
            } => {
                let mut options = WorkloadIdentityCredentialOptions {
                    tenant_id: tenant_id.clone(),
                    client_id: client_id.clone(),
                    token_file_path: token_file.clone(),
                    ..Default::default()
                };
                options.credential_options.client_options = Self::client_options(cloud, trust)?;
                WorkloadIdentityCredential::new(Some(options)).map_err(|e| auth_err("workload identity", e))?
            }
            CredentialConfig::ManagedIdentity { client_id } => {
                let options = ManagedIdentityCredentialOptions {
                    user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                    client_options: Self::client_options(cloud, trust)?,
                };
                ManagedIdentityCredential::new(Some(options)).map_err(|e| auth_err("managed identity", e))?
            }
            CredentialConfig::ClientSecret { tenant_id, client_id } => {
                let secret = client_secret.ok_or_else(|| {
                    ArmError::config("client-secret credential configured but no secret was supplied")
                })?;
                let options = ClientSecretCredentialOptions {
                    client_options: Self::client_options(cloud, trust)?,
                };
                ClientSecretCredential::new(tenant_id, client_id.clone(), secret, Some(options))
                    .map_err(|e| auth_err("client secret", e))?
            }
        };
        Ok(Self::from_credential(credential, cloud.token_scope()))
    }

    /// Sets how long before expiry a cached token is refreshed (default 5 minutes).
    pub fn refresh_before(mut self, d: Duration) -> Self {
        self.refresh_before = d;
        self
    }
}

#[async_trait]
impl TokenSource for AzureIdentityToken {
    async fn token(&self) -> Result<Secret> {
        let mut cache = self.cache.lock().await;
        let now = azure_core::time::OffsetDateTime::now_utc();
        let margin = azure_core::time::Duration::try_from(self.refresh_before).unwrap_or_default();
        if let Some(c) = cache.as_ref()
            && c.expires_on - margin > now
        {
            return Ok(c.token.clone());
        }
        let scope = self.scope.as_str();
        let fresh = self
            .credential
            .get_token(&[scope], None)
            .await
            .map_err(|e| auth_err("get_token", e))?;
        tracing::debug!(expires_on = %fresh.expires_on, scope, "acquired ARM access token");
        let token = fresh.token.clone();
        *cache = Some(Cached {
            token: fresh.token,
            expires_on: fresh.expires_on,
        });
        Ok(token)
    }

    fn invalidate(&self) {
        if let Ok(mut c) = self.cache.try_lock() {
            *c = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::credentials::{AccessToken, TokenRequestOptions};
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug, Default)]
    struct Counting {
        calls: AtomicUsize,
        lifetime_secs: i64,
    }

    #[async_trait]
    impl TokenCredential for Counting {
        async fn get_token(&self, scopes: &[&str], _: Option<TokenRequestOptions<'_>>) -> azure_core::Result<AccessToken> {
            assert_eq!(scopes, ["https://management.usgovcloudapi.net/.default"]);
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(AccessToken::new(
                format!("tok-{n}"),
                azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::seconds(self.lifetime_secs),
            ))
        }
    }

    #[tokio::test]
    async fn caches_until_near_expiry_and_never_prints_the_token() {
        let scope = AzureCloud::UsGovernment.token_scope();
        let long = Arc::new(Counting {
            lifetime_secs: 3600,
            ..Default::default()
        });
        let src = AzureIdentityToken::from_credential(long.clone(), scope.clone());
        assert_eq!(src.token().await.unwrap().secret(), "tok-0");
        assert_eq!(src.token().await.unwrap().secret(), "tok-0");
        assert_eq!(long.calls.load(Ordering::SeqCst), 1);
        src.invalidate();
        assert_eq!(src.token().await.unwrap().secret(), "tok-1");

        // A token inside the refresh margin is fetched again every time.
        let short = Arc::new(Counting {
            lifetime_secs: 60,
            ..Default::default()
        });
        let src = AzureIdentityToken::from_credential(short.clone(), scope);
        src.token().await.unwrap();
        src.token().await.unwrap();
        assert_eq!(short.calls.load(Ordering::SeqCst), 2);

        let t = src.token().await.unwrap();
        assert!(!format!("{t:?} {src:?}").contains("tok-"));
        assert!(!format!("{:?}", StaticToken::new("s3cret")).contains("s3cret"));
    }

    #[test]
    fn client_secret_config_requires_a_secret() {
        let cfg = CredentialConfig::ClientSecret {
            tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
            client_id: "c".into(),
        };
        let e = AzureIdentityToken::from_config(&AzureCloud::Public, &cfg, None).unwrap_err();
        assert!(e.to_string().contains("no secret"), "{e}");
        assert!(AzureIdentityToken::from_config(&AzureCloud::China, &cfg, Some(Secret::from("x"))).is_ok());
        let file = tempfile::NamedTempFile::new().unwrap();
        let wi = CredentialConfig::WorkloadIdentity {
            tenant_id: Some("72f988bf-86f1-41af-91ab-2d7cd011db47".into()),
            client_id: Some("c".into()),
            token_file: Some(file.path().to_path_buf()),
        };
        let built = AzureIdentityToken::from_config(&AzureCloud::Public, &wi, None);
        assert!(built.is_ok(), "{:?}", built.err());
        assert!(
            AzureIdentityToken::from_config(&AzureCloud::Public, &CredentialConfig::ManagedIdentity { client_id: None }, None)
                .is_ok()
        );
    }
}
