//! The resource types the emulator knows, with their api-versions and wire behaviour.

/// Network api-versions (Microsoft.Network, except Private DNS).
pub const NETWORK_VERSIONS: &[&str] = &[
    "2020-11-01",
    "2021-02-01",
    "2021-03-01",
    "2021-05-01",
    "2021-08-01",
    "2022-01-01",
    "2022-05-01",
    "2022-07-01",
    "2022-09-01",
    "2022-11-01",
    "2023-02-01",
    "2023-04-01",
    "2023-05-01",
    "2023-06-01",
    "2023-09-01",
    "2023-11-01",
    "2024-01-01",
    "2024-03-01",
    "2024-05-01",
    "2024-07-01",
    "2024-10-01",
    "2025-01-01",
    "2025-03-01",
    "2025-05-01",
    "2025-07-01",
];
/// Private DNS api-versions.
pub const PRIVATE_DNS_VERSIONS: &[&str] = &["2018-09-01", "2020-01-01", "2020-06-01", "2024-06-01"];
/// Azure Machine Learning api-versions.
pub const ML_VERSIONS: &[&str] = &[
    "2022-10-01",
    "2023-04-01",
    "2023-10-01",
    "2024-04-01",
    "2024-10-01",
    "2025-06-01",
    "2025-09-01",
];
/// Storage api-versions.
pub const STORAGE_VERSIONS: &[&str] = &[
    "2021-09-01",
    "2022-05-01",
    "2022-09-01",
    "2023-01-01",
    "2023-04-01",
    "2023-05-01",
    "2024-01-01",
    "2025-01-01",
];
/// Key Vault api-versions.
pub const KEYVAULT_VERSIONS: &[&str] = &["2022-07-01", "2023-02-01", "2023-07-01", "2024-11-01"];
/// Container Registry api-versions.
pub const ACR_VERSIONS: &[&str] = &[
    "2022-12-01",
    "2023-07-01",
    "2023-11-01-preview",
    "2025-04-01",
];
/// Application Insights components api-versions.
pub const APPINSIGHTS_VERSIONS: &[&str] = &["2015-05-01", "2020-02-02"];
/// Resource groups (Microsoft.Resources) api-versions.
pub const RESOURCES_VERSIONS: &[&str] = &[
    "2019-10-01",
    "2020-06-01",
    "2020-10-01",
    "2021-01-01",
    "2021-04-01",
    "2022-09-01",
    "2023-07-01",
    "2024-03-01",
    "2024-07-01",
    "2024-11-01",
    "2025-03-01",
    "2025-04-01",
];

/// How a PUT (and PATCH, when it is asynchronous) answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// 201 on create / 200 on update with the body, plus `Azure-AsyncOperation` + `Retry-After`
    /// (Network, ACR, ML computes). `with_location` adds a `Location` header too (Private DNS).
    AsyncOp { with_location: bool },
    /// 202 + `Location` + `Retry-After`, empty body; the Location poll returns 200 + body when done
    /// (Storage create, ML workspaces).
    Accepted,
    /// Synchronous: 201/200 (or always 200) with the final body.
    Sync { created_status: u16 },
    /// The operation is not supported on this type.
    Unsupported,
}

/// How a DELETE answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteMode {
    /// 202 + `Location` (+ `Azure-AsyncOperation`) + `Retry-After`; 204 when absent.
    Accepted,
    /// 200 when deleted, 204 when absent.
    Sync,
    /// Not deletable through ARM (emulator-managed, e.g. a private endpoint's NIC).
    Unsupported,
}

/// What kind of ETag a type carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtagKind {
    None,
    /// `W/"<guid>"` (Network).
    Weak,
    /// `<guid>` (Private DNS).
    Strong,
}

/// Per-type wire behaviour.
#[derive(Debug)]
pub struct TypeSpec {
    /// Canonical type, e.g. `Microsoft.Network/virtualNetworks/subnets`.
    pub canonical: &'static str,
    pub api_versions: &'static [&'static str],
    pub put: WriteMode,
    /// PUT on an existing resource, when it differs from `put` (Storage updates are synchronous).
    pub put_update: Option<WriteMode>,
    pub patch: WriteMode,
    pub delete: DeleteMode,
    pub etag: EtagKind,
    /// Honours `If-Match` / `If-None-Match`.
    pub if_match: bool,
    /// Tracked (top-level with location).
    pub tracked: bool,
    /// Name of the inline array in the parent's `properties` (subnets, securityRules, routes).
    pub inline_in_parent: Option<&'static str>,
    /// provisioningState shown while a create is in flight.
    pub creating_label: &'static str,
    /// Network child: a missing one answers 404 `NotFound` instead of `ResourceNotFound`.
    pub network_child: bool,
    /// Only listable / readable; writes are refused.
    pub read_only: bool,
}

const NET_ASYNC: WriteMode = WriteMode::AsyncOp {
    with_location: false,
};
const NET_TAGS_PATCH: WriteMode = WriteMode::Sync {
    created_status: 200,
};

macro_rules! spec {
    ($canonical:expr, $versions:expr, put: $put:expr, patch: $patch:expr, delete: $del:expr, etag: $etag:expr,
     tracked: $tracked:expr, creating: $creating:expr $(,)?) => {
        TypeSpec {
            canonical: $canonical,
            api_versions: $versions,
            put: $put,
            patch: $patch,
            delete: $del,
            etag: $etag,
            tracked: $tracked,
            creating_label: $creating,
            ..TypeSpec::BASE
        }
    };
}

impl TypeSpec {
    const BASE: TypeSpec = TypeSpec {
        canonical: "",
        api_versions: &[],
        put: WriteMode::Unsupported,
        put_update: None,
        patch: WriteMode::Unsupported,
        delete: DeleteMode::Unsupported,
        etag: EtagKind::None,
        if_match: false,
        tracked: false,
        inline_in_parent: None,
        creating_label: "Updating",
        network_child: false,
        read_only: false,
    };

    /// The provider namespace, e.g. `Microsoft.Network`.
    pub fn namespace(&self) -> &'static str {
        self.canonical.split('/').next().unwrap_or(self.canonical)
    }

    /// The last type segment, e.g. `subnets`.
    pub fn leaf(&self) -> &'static str {
        self.canonical.rsplit('/').next().unwrap_or(self.canonical)
    }

    /// Number of type segments after the namespace (1 for top-level types).
    pub fn depth(&self) -> usize {
        self.canonical.split('/').count() - 1
    }

    pub fn is(&self, canonical: &str) -> bool {
        self.canonical.eq_ignore_ascii_case(canonical)
    }
}

pub const VNET: &str = "Microsoft.Network/virtualNetworks";
pub const SUBNET: &str = "Microsoft.Network/virtualNetworks/subnets";
pub const NSG: &str = "Microsoft.Network/networkSecurityGroups";
pub const NSG_RULE: &str = "Microsoft.Network/networkSecurityGroups/securityRules";
pub const NSG_DEFAULT_RULE: &str = "Microsoft.Network/networkSecurityGroups/defaultSecurityRules";
pub const ROUTE_TABLE: &str = "Microsoft.Network/routeTables";
pub const ROUTE: &str = "Microsoft.Network/routeTables/routes";
pub const PRIVATE_ENDPOINT: &str = "Microsoft.Network/privateEndpoints";
pub const ZONE_GROUP: &str = "Microsoft.Network/privateEndpoints/privateDnsZoneGroups";
pub const NIC: &str = "Microsoft.Network/networkInterfaces";
pub const DNS_ZONE: &str = "Microsoft.Network/privateDnsZones";
pub const DNS_LINK: &str = "Microsoft.Network/privateDnsZones/virtualNetworkLinks";
pub const DNS_ALL: &str = "Microsoft.Network/privateDnsZones/ALL";
pub const WORKSPACE: &str = "Microsoft.MachineLearningServices/workspaces";
pub const COMPUTE: &str = "Microsoft.MachineLearningServices/workspaces/computes";
pub const STORAGE: &str = "Microsoft.Storage/storageAccounts";
pub const VAULT: &str = "Microsoft.KeyVault/vaults";
pub const REGISTRY: &str = "Microsoft.ContainerRegistry/registries";
/// Application Insights answers with a lower-case namespace.
pub const APP_INSIGHTS: &str = "microsoft.insights/components";
pub const RESOURCE_GROUP: &str = "Microsoft.Resources/resourceGroups";

/// DNS record types served under a zone.
pub const DNS_RECORD_TYPES: &[&str] = &["A", "AAAA", "CNAME", "MX", "PTR", "SOA", "SRV", "TXT"];

macro_rules! dns_record {
    ($name:expr) => {
        TypeSpec {
            canonical: concat!("Microsoft.Network/privateDnsZones/", $name),
            api_versions: PRIVATE_DNS_VERSIONS,
            put: WriteMode::Sync {
                created_status: 201,
            },
            patch: WriteMode::Sync {
                created_status: 200,
            },
            delete: DeleteMode::Sync,
            etag: EtagKind::Strong,
            if_match: true,
            ..TypeSpec::BASE
        }
    };
}

pub static TYPES: &[TypeSpec] = &[
    spec!(VNET, NETWORK_VERSIONS, put: NET_ASYNC, patch: NET_TAGS_PATCH, delete: DeleteMode::Accepted,
          etag: EtagKind::Weak, tracked: true, creating: "Updating"),
    TypeSpec {
        inline_in_parent: Some("subnets"),
        network_child: true,
        ..spec!(SUBNET, NETWORK_VERSIONS, put: NET_ASYNC, patch: WriteMode::Unsupported, delete: DeleteMode::Accepted,
                etag: EtagKind::Weak, tracked: false, creating: "Updating")
    },
    spec!(NSG, NETWORK_VERSIONS, put: NET_ASYNC, patch: NET_TAGS_PATCH, delete: DeleteMode::Accepted,
          etag: EtagKind::Weak, tracked: true, creating: "Updating"),
    TypeSpec {
        inline_in_parent: Some("securityRules"),
        network_child: true,
        ..spec!(NSG_RULE, NETWORK_VERSIONS, put: NET_ASYNC, patch: WriteMode::Unsupported, delete: DeleteMode::Accepted,
                etag: EtagKind::Weak, tracked: false, creating: "Updating")
    },
    TypeSpec {
        network_child: true,
        read_only: true,
        ..spec!(NSG_DEFAULT_RULE, NETWORK_VERSIONS, put: WriteMode::Unsupported, patch: WriteMode::Unsupported,
                delete: DeleteMode::Unsupported, etag: EtagKind::Weak, tracked: false, creating: "Updating")
    },
    spec!(ROUTE_TABLE, NETWORK_VERSIONS, put: NET_ASYNC, patch: NET_TAGS_PATCH, delete: DeleteMode::Accepted,
          etag: EtagKind::Weak, tracked: true, creating: "Updating"),
    TypeSpec {
        inline_in_parent: Some("routes"),
        network_child: true,
        ..spec!(ROUTE, NETWORK_VERSIONS, put: NET_ASYNC, patch: WriteMode::Unsupported, delete: DeleteMode::Accepted,
                etag: EtagKind::Weak, tracked: false, creating: "Updating")
    },
    spec!(PRIVATE_ENDPOINT, NETWORK_VERSIONS, put: NET_ASYNC, patch: WriteMode::Unsupported, delete: DeleteMode::Accepted,
          etag: EtagKind::Weak, tracked: true, creating: "Updating"),
    TypeSpec {
        network_child: true,
        ..spec!(ZONE_GROUP, NETWORK_VERSIONS, put: NET_ASYNC, patch: WriteMode::Unsupported, delete: DeleteMode::Accepted,
                etag: EtagKind::Weak, tracked: false, creating: "Updating")
    },
    TypeSpec {
        read_only: true,
        ..spec!(NIC, NETWORK_VERSIONS, put: WriteMode::Unsupported, patch: WriteMode::Unsupported,
                delete: DeleteMode::Unsupported, etag: EtagKind::Weak, tracked: true, creating: "Updating")
    },
    TypeSpec {
        if_match: true,
        ..spec!(DNS_ZONE, PRIVATE_DNS_VERSIONS, put: WriteMode::AsyncOp { with_location: true },
                patch: WriteMode::AsyncOp { with_location: true }, delete: DeleteMode::Accepted,
                etag: EtagKind::Strong, tracked: true, creating: "Creating")
    },
    TypeSpec {
        if_match: true,
        ..spec!(DNS_LINK, PRIVATE_DNS_VERSIONS, put: WriteMode::AsyncOp { with_location: true },
                patch: WriteMode::AsyncOp { with_location: true }, delete: DeleteMode::Accepted,
                etag: EtagKind::Strong, tracked: true, creating: "Creating")
    },
    TypeSpec {
        read_only: true,
        ..dns_record!("ALL")
    },
    dns_record!("A"),
    dns_record!("AAAA"),
    dns_record!("CNAME"),
    dns_record!("MX"),
    dns_record!("PTR"),
    dns_record!("SOA"),
    dns_record!("SRV"),
    dns_record!("TXT"),
    spec!(WORKSPACE, ML_VERSIONS, put: WriteMode::Accepted, patch: WriteMode::Accepted, delete: DeleteMode::Accepted,
          etag: EtagKind::None, tracked: true, creating: "Creating"),
    spec!(COMPUTE, ML_VERSIONS, put: NET_ASYNC, patch: WriteMode::Sync { created_status: 200 },
          delete: DeleteMode::Accepted, etag: EtagKind::None, tracked: true, creating: "Creating"),
    TypeSpec {
        put_update: Some(WriteMode::Sync {
            created_status: 200,
        }),
        ..spec!(STORAGE, STORAGE_VERSIONS, put: WriteMode::Accepted, patch: WriteMode::Sync { created_status: 200 },
                delete: DeleteMode::Sync, etag: EtagKind::None, tracked: true, creating: "Creating")
    },
    spec!(VAULT, KEYVAULT_VERSIONS, put: WriteMode::Sync { created_status: 201 }, patch: WriteMode::Sync { created_status: 200 },
          delete: DeleteMode::Sync, etag: EtagKind::None, tracked: true, creating: "Succeeded"),
    spec!(REGISTRY, ACR_VERSIONS, put: NET_ASYNC, patch: NET_ASYNC, delete: DeleteMode::Accepted,
          etag: EtagKind::None, tracked: true, creating: "Creating"),
    spec!(APP_INSIGHTS, APPINSIGHTS_VERSIONS, put: WriteMode::Sync { created_status: 200 },
          patch: WriteMode::Sync { created_status: 200 }, delete: DeleteMode::Sync, etag: EtagKind::None,
          tracked: true, creating: "Succeeded"),
];

/// Looks a type up case-insensitively (`Microsoft.Network/virtualNetworks/subnets`).
pub fn lookup(canonical: &str) -> Option<&'static TypeSpec> {
    TYPES
        .iter()
        .find(|t| t.canonical.eq_ignore_ascii_case(canonical))
}

/// The api-versions the emulator accepts for a resource type (case-insensitive), e.g.
/// `supported_api_versions("Microsoft.Network/virtualNetworks")`.
pub fn supported_api_versions(resource_type: &str) -> Option<&'static [&'static str]> {
    if resource_type.eq_ignore_ascii_case(RESOURCE_GROUP) {
        return Some(RESOURCES_VERSIONS);
    }
    lookup(resource_type).map(|t| t.api_versions)
}

/// `YYYY-MM-DD` optionally followed by `-preview` / `-beta` / `-alpha` / `-privatepreview`.
pub fn api_version_well_formed(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() < 10 {
        return false;
    }
    let date_ok = b[..10].iter().enumerate().all(|(i, c)| match i {
        4 | 7 => *c == b'-',
        _ => c.is_ascii_digit(),
    });
    if !date_ok {
        return false;
    }
    let rest = &v[10..];
    rest.is_empty()
        || (rest.starts_with('-')
            && rest.len() > 1
            && rest[1..].chars().all(|c| c.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive() {
        assert_eq!(
            lookup("microsoft.network/VIRTUALNETWORKS/subnets").map(|t| t.canonical),
            Some(SUBNET)
        );
        assert_eq!(
            lookup("Microsoft.Insights/components").map(|t| t.canonical),
            Some(APP_INSIGHTS)
        );
        assert!(lookup("Microsoft.Network/loadBalancers").is_none());
    }

    #[test]
    fn api_version_shape() {
        assert!(api_version_well_formed("2024-05-01"));
        assert!(api_version_well_formed("2023-11-01-preview"));
        assert!(!api_version_well_formed("2024-5-1"));
        assert!(!api_version_well_formed("latest"));
        assert!(!api_version_well_formed("2024-05-01-"));
    }

    #[test]
    fn spec_helpers() {
        let t = lookup(SUBNET).unwrap();
        assert_eq!(t.namespace(), "Microsoft.Network");
        assert_eq!(t.leaf(), "subnets");
        assert_eq!(t.depth(), 2);
    }
}
