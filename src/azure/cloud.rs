//! Azure cloud endpoints, as configuration.
//!
//! Every endpoint the client uses comes from an [`AzureCloud`] value: the ARM base URL, the Entra
//! ID authority host and the token audience (azure-arm-facts.md, header and §S9).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use url::Url;

/// Which Azure cloud to talk to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", tag = "name")]
pub enum AzureCloud {
    /// Azure public cloud (`management.azure.com`).
    #[default]
    Public,
    /// Azure US Government (`management.usgovcloudapi.net`).
    UsGovernment,
    /// Azure China, operated by 21Vianet (`management.chinacloudapi.cn`).
    China,
    /// Any other endpoint set: Azure Stack, a private cloud, or the local ARM emulator.
    #[serde(rename_all = "camelCase")]
    Custom {
        /// ARM base URL, e.g. `http://127.0.0.1:8080/`.
        #[serde(with = "url_str")]
        arm_endpoint: Url,
        /// Entra ID authority host, e.g. `https://login.microsoftonline.com/`.
        #[serde(with = "url_str")]
        authority_host: Url,
        /// Token audience; the scope requested is `{audience}/.default`.
        audience: String,
    },
}

mod url_str {
    use serde::{Deserialize, Deserializer, Serializer};
    use url::Url;

    pub fn serialize<S: Serializer>(u: &Url, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(u.as_str())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
        let s = String::deserialize(d)?;
        Url::parse(&s).map_err(serde::de::Error::custom)
    }
}

fn url(s: &'static str) -> Url {
    // The literals below are valid URLs; a failure here is a programming error caught by tests.
    Url::parse(s).unwrap_or_else(|e| panic!("built-in cloud URL {s} is invalid: {e}"))
}

impl AzureCloud {
    /// The ARM endpoint (always ends with `/`).
    pub fn arm_endpoint(&self) -> Url {
        match self {
            AzureCloud::Public => url("https://management.azure.com/"),
            AzureCloud::UsGovernment => url("https://management.usgovcloudapi.net/"),
            AzureCloud::China => url("https://management.chinacloudapi.cn/"),
            AzureCloud::Custom { arm_endpoint, .. } => {
                let mut u = arm_endpoint.clone();
                if !u.path().ends_with('/') {
                    let p = format!("{}/", u.path());
                    u.set_path(&p);
                }
                u
            }
        }
    }

    /// The Entra ID (AAD) authority host.
    pub fn authority_host(&self) -> Url {
        match self {
            AzureCloud::Public => url("https://login.microsoftonline.com/"),
            AzureCloud::UsGovernment => url("https://login.microsoftonline.us/"),
            AzureCloud::China => url("https://login.chinacloudapi.cn/"),
            AzureCloud::Custom { authority_host, .. } => authority_host.clone(),
        }
    }

    /// The ARM token audience.
    pub fn audience(&self) -> String {
        match self {
            AzureCloud::Custom { audience, .. } => audience.trim_end_matches('/').to_string(),
            other => other.arm_endpoint().as_str().trim_end_matches('/').to_string(),
        }
    }

    /// The OAuth scope to request for ARM: `{audience}/.default`.
    pub fn token_scope(&self) -> String {
        format!("{}/.default", self.audience())
    }

    /// The matching azure_core cloud configuration (for azure_identity credentials).
    pub fn to_azure_core(&self) -> azure_core::cloud::CloudConfiguration {
        use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
        match self {
            AzureCloud::Public => CloudConfiguration::AzurePublic,
            AzureCloud::UsGovernment => CloudConfiguration::AzureGovernment,
            AzureCloud::China => CloudConfiguration::AzureChina,
            AzureCloud::Custom { authority_host, .. } => {
                let mut custom = CustomConfiguration::default();
                custom.authority_host = authority_host.as_str().trim_end_matches('/').to_string();
                custom.into()
            }
        }
    }

    /// A custom cloud pointing at a local ARM emulator.
    pub fn emulator(arm_endpoint: Url) -> Self {
        AzureCloud::Custom {
            audience: arm_endpoint.as_str().trim_end_matches('/').to_string(),
            arm_endpoint,
            authority_host: url("https://login.invalid/"),
        }
    }
}

impl fmt::Display for AzureCloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AzureCloud::Public => f.write_str("AzurePublicCloud"),
            AzureCloud::UsGovernment => f.write_str("AzureUSGovernment"),
            AzureCloud::China => f.write_str("AzureChinaCloud"),
            AzureCloud::Custom { arm_endpoint, .. } => write!(f, "custom({arm_endpoint})"),
        }
    }
}

/// Error for an unknown cloud name.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown Azure cloud '{0}': expected AzurePublicCloud, AzureUSGovernment or AzureChinaCloud")]
pub struct UnknownCloud(pub String);

impl FromStr for AzureCloud {
    type Err = UnknownCloud;
    /// Accepts the names used by the Azure CLI / SDKs (`AzurePublicCloud`, `AzureUSGovernment`,
    /// `AzureChinaCloud`) and short forms (`public`, `usgov`, `china`), case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "public" | "azurepublic" | "azurepubliccloud" | "azurecloud" => Ok(AzureCloud::Public),
            "usgov" | "usgovernment" | "azureusgovernment" | "azureusgovernmentcloud" => Ok(AzureCloud::UsGovernment),
            "china" | "azurechina" | "azurechinacloud" => Ok(AzureCloud::China),
            _ => Err(UnknownCloud(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_scopes() {
        assert_eq!(AzureCloud::Public.arm_endpoint().as_str(), "https://management.azure.com/");
        assert_eq!(AzureCloud::Public.token_scope(), "https://management.azure.com/.default");
        assert_eq!(
            AzureCloud::UsGovernment.token_scope(),
            "https://management.usgovcloudapi.net/.default"
        );
        assert_eq!(AzureCloud::China.authority_host().as_str(), "https://login.chinacloudapi.cn/");
        let emu = AzureCloud::emulator(Url::parse("http://127.0.0.1:9000/base").unwrap());
        assert_eq!(emu.arm_endpoint().as_str(), "http://127.0.0.1:9000/base/");
        assert_eq!("AzureUSGovernment".parse::<AzureCloud>().unwrap(), AzureCloud::UsGovernment);
        assert!("mars".parse::<AzureCloud>().is_err());
        let json = serde_json::to_value(&emu).unwrap();
        assert_eq!(json["name"], "custom");
        assert_eq!(serde_json::from_value::<AzureCloud>(json).unwrap(), emu);
    }
}
