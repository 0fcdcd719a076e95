//! Private-link DNS: the privatelink zone names per private-endpoint groupId and cloud, the public
//! zones a custom DNS server forwards, and the host names behind each endpoint (the records a
//! custom DNS server must serve). Pure functions; the tables come from
//! `shared/docs/azure-arm-facts.md` §3.
//!
//! `DnsCloud` is deliberately small; `src/azure/cloud.rs` owns the full cloud description.

use crate::api::GroupId;

/// The Azure cloud whose DNS suffixes apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum DnsCloud {
    /// Azure public cloud.
    Public,
    /// Azure US Government.
    UsGov,
    /// Azure China (21Vianet).
    China,
}

impl DnsCloud {
    /// Every cloud, in a stable order.
    pub const ALL: [DnsCloud; 3] = [DnsCloud::Public, DnsCloud::UsGov, DnsCloud::China];

    /// The cloud a region belongs to, from its name: `china*` regions are Azure China, `usgov*`
    /// and `usdod*` are Azure US Government, everything else is the public cloud.
    pub fn from_region(region: &str) -> DnsCloud {
        let r = region.to_ascii_lowercase();
        if r.starts_with("china") {
            DnsCloud::China
        } else if r.starts_with("usgov") || r.starts_with("usdod") || r.starts_with("usnat") || r.starts_with("ussec") {
            DnsCloud::UsGov
        } else {
            DnsCloud::Public
        }
    }

    /// Storage endpoint suffix: `core.windows.net` and its sovereign equivalents.
    pub fn storage_suffix(self) -> &'static str {
        match self {
            DnsCloud::Public => "core.windows.net",
            DnsCloud::UsGov => "core.usgovcloudapi.net",
            DnsCloud::China => "core.chinacloudapi.cn",
        }
    }

    /// Azure ML API suffix (`api.azureml.ms`, `api.ml.azure.us`, `api.ml.azure.cn`).
    pub fn aml_api_suffix(self) -> &'static str {
        match self {
            DnsCloud::Public => "api.azureml.ms",
            DnsCloud::UsGov => "api.ml.azure.us",
            DnsCloud::China => "api.ml.azure.cn",
        }
    }

    /// Notebooks suffix (`notebooks.azure.net` and sovereign equivalents).
    pub fn notebooks_suffix(self) -> &'static str {
        match self {
            DnsCloud::Public => "notebooks.azure.net",
            DnsCloud::UsGov => "notebooks.usgovcloudapi.net",
            DnsCloud::China => "notebooks.chinacloudapi.cn",
        }
    }

    fn vault_suffix(self) -> &'static str {
        match self {
            DnsCloud::Public => "vault.azure.net",
            DnsCloud::UsGov => "vault.usgovcloudapi.net",
            DnsCloud::China => "vault.azure.cn",
        }
    }

    fn vault_zone(self) -> &'static str {
        match self {
            DnsCloud::Public => "privatelink.vaultcore.azure.net",
            DnsCloud::UsGov => "privatelink.vaultcore.usgovcloudapi.net",
            DnsCloud::China => "privatelink.vaultcore.azure.cn",
        }
    }

    fn registry_suffix(self) -> &'static str {
        match self {
            DnsCloud::Public => "azurecr.io",
            DnsCloud::UsGov => "azurecr.us",
            DnsCloud::China => "azurecr.cn",
        }
    }
}

impl std::fmt::Display for DnsCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DnsCloud::Public => "AzurePublic",
            DnsCloud::UsGov => "AzureUSGovernment",
            DnsCloud::China => "AzureChina",
        })
    }
}

fn storage_service(group: GroupId) -> Option<&'static str> {
    match group {
        GroupId::Blob => Some("blob"),
        GroupId::File => Some("file"),
        GroupId::Queue => Some("queue"),
        GroupId::Table => Some("table"),
        GroupId::Dfs => Some("dfs"),
        GroupId::Web => Some("web"),
        _ => None,
    }
}

/// The privatelink zones moat creates by default for a groupId in a cloud, in a stable order.
/// Empty when the documentation lists no zone (container registry in Azure China).
///
/// For the container registry this is the single `privatelink.azurecr.<suffix>` zone that holds
/// both the login-server and the regional data-endpoint records (the long-standing working
/// pattern; the newer table also lists a regional data zone, see [`accepted_zones`]).
pub fn default_zones(group: GroupId, cloud: DnsCloud) -> Vec<String> {
    match group {
        GroupId::Amlworkspace => match cloud {
            DnsCloud::Public => vec!["privatelink.api.azureml.ms".into(), "privatelink.notebooks.azure.net".into()],
            DnsCloud::UsGov => vec!["privatelink.api.ml.azure.us".into(), "privatelink.notebooks.usgovcloudapi.net".into()],
            DnsCloud::China => vec!["privatelink.api.ml.azure.cn".into(), "privatelink.notebooks.chinacloudapi.cn".into()],
        },
        GroupId::Vault => vec![cloud.vault_zone().into()],
        GroupId::Registry => match cloud {
            DnsCloud::Public => vec!["privatelink.azurecr.io".into()],
            DnsCloud::UsGov => vec!["privatelink.azurecr.us".into()],
            DnsCloud::China => vec![],
        },
        g => match storage_service(g) {
            Some(svc) => vec![format!("privatelink.{svc}.{}", cloud.storage_suffix())],
            None => vec![],
        },
    }
}

/// Every zone name the documentation gives for a groupId in a cloud: the defaults plus the
/// regional registry data zone (`{region}.data.privatelink.azurecr.io`,
/// `{region}.privatelink.azurecr.us`).
pub fn accepted_zones(group: GroupId, cloud: DnsCloud, region: &str) -> Vec<String> {
    let mut zones = default_zones(group, cloud);
    if group == GroupId::Registry {
        match cloud {
            DnsCloud::Public => zones.push(format!("{region}.data.privatelink.azurecr.io")),
            DnsCloud::UsGov => zones.push(format!("{region}.privatelink.azurecr.us")),
            DnsCloud::China => {}
        }
    }
    zones
}

/// Public DNS zones whose names CNAME into the privatelink zones: what a custom DNS server
/// forwards to Azure DNS (168.63.129.16) for the groupId.
pub fn forwarded_zones(group: GroupId, cloud: DnsCloud) -> Vec<String> {
    match group {
        GroupId::Amlworkspace => {
            let (api, nb, inst, inf) = match cloud {
                DnsCloud::Public => ("api.azureml.ms", "notebooks.azure.net", "instances.azureml.ms", "inference.ml.azure.com"),
                DnsCloud::UsGov => ("api.ml.azure.us", "notebooks.usgovcloudapi.net", "instances.azureml.us", "inference.ml.azure.us"),
                DnsCloud::China => ("api.ml.azure.cn", "notebooks.chinacloudapi.cn", "instances.azureml.cn", "inference.ml.azure.cn"),
            };
            vec![api.into(), nb.into(), inst.into(), "aznbcontent.net".into(), inf.into()]
        }
        GroupId::Vault => match cloud {
            DnsCloud::Public => vec!["vault.azure.net".into(), "vaultcore.azure.net".into()],
            DnsCloud::UsGov => vec!["vault.usgovcloudapi.net".into(), "vaultcore.usgovcloudapi.net".into()],
            DnsCloud::China => vec!["vault.azure.cn".into(), "vaultcore.azure.cn".into()],
        },
        GroupId::Registry => vec![cloud.registry_suffix().into()],
        g => match storage_service(g) {
            Some(svc) => vec![format!("{svc}.{}", cloud.storage_suffix())],
            None => vec![],
        },
    }
}

/// One host name behind a private endpoint and the privatelink zone its record belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct HostName {
    /// The name clients resolve, for example `stmlprod01.blob.core.windows.net`.
    pub fqdn: String,
    /// The privatelink zone that holds its record, for example `privatelink.blob.core.windows.net`.
    pub zone: String,
}

/// What an endpoint points at, with what its host names are made of.
#[derive(Debug, Clone, Copy)]
pub enum EndpointTarget<'a> {
    /// An Azure ML workspace: its `workspaceId` GUID (ARM's `properties.workspaceId`; use a
    /// placeholder such as `<workspace-id>` before it exists), its name and region.
    Workspace { workspace_id: &'a str, name: &'a str, region: &'a str },
    /// A storage account and the sub-resource the endpoint serves.
    Storage { account: &'a str, group: GroupId },
    /// A key vault.
    KeyVault { name: &'a str },
    /// A container registry and its region (for the data endpoint).
    Registry { name: &'a str, region: &'a str },
}

/// Longest DNS label.
const MAX_LABEL: usize = 63;

/// The notebooks label `ml-<workspace name>-<region>-<workspace id>`, with the workspace name
/// shortened so that the label fits the 63 characters of a DNS label.
pub fn notebook_label(name: &str, region: &str, workspace_id: &str) -> String {
    let name = name.to_ascii_lowercase();
    let fixed = "ml-".len() + 1 + region.len() + 1 + workspace_id.len();
    let room = MAX_LABEL.saturating_sub(fixed);
    let short: String = name.chars().take(room).collect();
    format!("ml-{short}-{region}-{workspace_id}")
}

/// The host names behind an endpoint, with their zones, in a stable order: the records a custom
/// DNS server must serve (each resolving to the endpoint's private IP for that name).
pub fn host_names(cloud: DnsCloud, target: EndpointTarget<'_>) -> Vec<HostName> {
    let h = |fqdn: String, zone: String| HostName { fqdn, zone };
    match target {
        EndpointTarget::Workspace { workspace_id, name, region } => {
            let zones = default_zones(GroupId::Amlworkspace, cloud);
            let zone = |i: usize| zones.get(i).cloned().unwrap_or_default();
            let (api_zone, nb_zone) = (zone(0), zone(1));
            let api = cloud.aml_api_suffix();
            vec![
                h(format!("{workspace_id}.workspace.{region}.{api}"), api_zone.clone()),
                h(format!("{workspace_id}.workspace.{region}.cert.{api}"), api_zone.clone()),
                h(format!("*.{workspace_id}.inference.{region}.{api}"), api_zone),
                h(format!("{}.{region}.{}", notebook_label(name, region, workspace_id), cloud.notebooks_suffix()), nb_zone),
            ]
        }
        EndpointTarget::Storage { account, group } => match storage_service(group) {
            Some(svc) => vec![h(
                format!("{account}.{svc}.{}", cloud.storage_suffix()),
                format!("privatelink.{svc}.{}", cloud.storage_suffix()),
            )],
            None => vec![],
        },
        EndpointTarget::KeyVault { name } => {
            vec![h(format!("{name}.{}", cloud.vault_suffix()), cloud.vault_zone().into())]
        }
        EndpointTarget::Registry { name, region } => {
            let zone = default_zones(GroupId::Registry, cloud).into_iter().next().unwrap_or_default();
            let sfx = cloud.registry_suffix();
            vec![h(format!("{name}.{sfx}"), zone.clone()), h(format!("{name}.{region}.data.{sfx}"), zone)]
        }
    }
}

/// The public suffixes whose names a privatelink zone answers for: the zone name without
/// `privatelink.` (`privatelink.blob.core.windows.net` → `blob.core.windows.net`), and for the key
/// vault zones also the vault suffix the public name CNAMEs from (`vaultcore.azure.net` serves
/// `<vault>.vault.azure.net`).
pub fn public_suffixes(zone: &str) -> Vec<String> {
    let z = zone.trim_end_matches('.').to_ascii_lowercase();
    if let Some(rest) = z.strip_prefix("privatelink.") {
        let mut v = vec![rest.to_string()];
        if let Some(tail) = rest.strip_prefix("vaultcore.") {
            v.push(format!("vault.{tail}"));
        }
        return v;
    }
    // A regional zone such as `westeurope.data.privatelink.azurecr.io`.
    z.split_once(".privatelink.").map(|(region, r)| vec![format!("{region}.{r}")]).unwrap_or_default()
}

/// The record set that answers for `fqdn` in privatelink `zone` (`stml.blob.core.windows.net` in
/// `privatelink.blob.core.windows.net` → `stml`), when the zone serves that name.
pub fn record_name(fqdn: &str, zone: &str) -> Option<String> {
    let f = fqdn.trim_end_matches('.').to_ascii_lowercase();
    public_suffixes(zone)
        .into_iter()
        .filter_map(|sfx| f.strip_suffix(&format!(".{sfx}")).map(str::to_string))
        .filter(|name| !name.is_empty())
        .min_by_key(String::len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_names_in_privatelink_zones() {
        assert_eq!(record_name("stml.blob.core.windows.net", "privatelink.blob.core.windows.net").as_deref(), Some("stml"));
        assert_eq!(record_name("kv-ml-01.vault.azure.net", "privatelink.vaultcore.azure.net").as_deref(), Some("kv-ml-01"));
        assert_eq!(record_name("kv.vault.usgovcloudapi.net", "privatelink.vaultcore.usgovcloudapi.net").as_deref(), Some("kv"));
        assert_eq!(
            record_name("1111.workspace.westeurope.api.azureml.ms", "privatelink.api.azureml.ms").as_deref(),
            Some("1111.workspace.westeurope")
        );
        assert_eq!(record_name("cr1.westeurope.data.azurecr.io", "privatelink.azurecr.io").as_deref(), Some("cr1.westeurope.data"));
        assert_eq!(record_name("cr1.westeurope.data.azurecr.io", "westeurope.data.privatelink.azurecr.io").as_deref(), Some("cr1"));
        assert_eq!(record_name("stml.file.core.windows.net", "privatelink.blob.core.windows.net"), None);
    }

    #[test]
    fn zones_per_group_and_cloud() {
        assert_eq!(default_zones(GroupId::Blob, DnsCloud::Public), vec!["privatelink.blob.core.windows.net"]);
        assert_eq!(default_zones(GroupId::Dfs, DnsCloud::UsGov), vec!["privatelink.dfs.core.usgovcloudapi.net"]);
        assert_eq!(default_zones(GroupId::Vault, DnsCloud::China), vec!["privatelink.vaultcore.azure.cn"]);
        assert_eq!(
            default_zones(GroupId::Amlworkspace, DnsCloud::Public),
            vec!["privatelink.api.azureml.ms", "privatelink.notebooks.azure.net"]
        );
        assert!(default_zones(GroupId::Registry, DnsCloud::China).is_empty());
        assert!(accepted_zones(GroupId::Registry, DnsCloud::Public, "westeurope")
            .contains(&"westeurope.data.privatelink.azurecr.io".to_string()));
    }

    #[test]
    fn cloud_from_region() {
        assert_eq!(DnsCloud::from_region("westeurope"), DnsCloud::Public);
        assert_eq!(DnsCloud::from_region("usgovvirginia"), DnsCloud::UsGov);
        assert_eq!(DnsCloud::from_region("chinanorth3"), DnsCloud::China);
    }

    #[test]
    fn workspace_host_names() {
        let names = host_names(
            DnsCloud::Public,
            EndpointTarget::Workspace { workspace_id: "1111", name: "mlw-prod", region: "westeurope" },
        );
        assert_eq!(names[0].fqdn, "1111.workspace.westeurope.api.azureml.ms");
        assert_eq!(names[0].zone, "privatelink.api.azureml.ms");
        assert_eq!(names[3].fqdn, "ml-mlw-prod-westeurope-1111.westeurope.notebooks.azure.net");
        assert_eq!(names[3].zone, "privatelink.notebooks.azure.net");
    }

    #[test]
    fn notebook_label_fits_a_dns_label() {
        let guid = "00000000-0000-0000-0000-000000000000";
        let l = notebook_label(&"w".repeat(33), "australiasoutheast", guid);
        assert!(l.len() <= 63, "{l}");
        assert!(l.ends_with(guid));
    }
}
