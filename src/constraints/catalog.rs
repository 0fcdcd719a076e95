//! The rules. Every rule cites the sentence it comes from, copied verbatim; `tests/constraints_sources.rs`
//! checks each quote against its document. Ids are stable: never renumber, never reuse.

use super::{Citation, Rule, Scope, Source};
use crate::api::Severity::{Error, Info, Warning};

/// A document the catalog cites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    /// File name, as rules cite it.
    pub name: &'static str,
    /// Where it lives: `shared/seeds`, `shared/sources`, `shared/docs` or `crds` (this repository).
    pub dir: &'static str,
    /// The document's own title (its front matter `title`, the self-help `pageTitle`, or its
    /// first heading); `tests/citation_pages.rs` checks it against the file.
    pub title: &'static str,
    /// Its `ms.date`, when it has one (ISO form).
    pub date: Option<&'static str>,
    /// The public page a person can open: the learn.microsoft.com address of the article,
    /// derived from the file (its `source:` line, its "current version" link, or its media
    /// folder) and checked by `tests/citation_pages.rs`. None when there is no public page.
    pub url: Option<&'static str>,
    /// What the file is and where it comes from, beside the page.
    pub note: &'static str,
}

impl Document {
    /// One line for people: the title, the date, and the page or where to find the document.
    pub fn citation(&self) -> String {
        let date = self.date.map(|d| format!(" ({d})")).unwrap_or_default();
        match self.url {
            Some(url) => format!("{}{date}, {url}", self.title),
            None => format!("{}{date}, {}", self.title, self.note),
        }
    }
}

/// The document a rule cites by file name.
pub fn document(name: &str) -> Option<&'static Document> {
    DOCUMENTS.iter().find(|d| d.name == name)
}

pub const SEED_000: &str = "000_0b30717285ec9169.txt";
pub const SEED_001: &str = "001_0fb676a2cb2e6118.txt";
pub const SEED_002: &str = "002_b5e2736dbe48dcb8.txt";
pub const SEED_003: &str = "003_804c6cd8741332cb.txt";
pub const SEED_004: &str = "004_47c2132afb48e4ac.txt";
pub const FACTS: &str = "azure-arm-facts.md";
pub const SOURCE_MANAGED_NETWORK: &str = "how-to-managed-network.md";
pub const SOURCE_TRAINING_VNET: &str = "how-to-secure-training-vnet.md";
pub const CRD_SWS: &str = "secureworkspaces.moat.dev.yaml";
pub const CRD_CSN: &str = "computesubnets.moat.dev.yaml";
pub const CRD_PEB: &str = "privateendpointbindings.moat.dev.yaml";

/// The learn.microsoft.com address of an Azure Machine Learning article.
macro_rules! learn_ml {
    ($page:literal) => {
        concat!("https://learn.microsoft.com/azure/machine-learning/", $page)
    };
}
const CRD_NOTE: &str = "moat's own CRD, in crds/ of its repository (kubectl explain shows its rules)";

/// Every document the catalog cites (and the saved sources it may cite), newest dated seed first.
pub static DOCUMENTS: &[Document] = &[
    Document {
        name: SEED_001,
        dir: "shared/seeds",
        title: "Secure workspace resources using virtual networks (VNets)",
        date: Some("2022-08-19"),
        url: Some(learn_ml!("how-to-network-security-overview")),
        note: "Azure Machine Learning docs, SDK/CLI v2 revision of how-to-network-security-overview.md",
    },
    Document {
        name: SEED_002,
        dir: "shared/seeds",
        title: "Secure an Azure Machine Learning workspace with virtual networks",
        date: None,
        url: Some(learn_ml!("how-to-secure-workspace-vnet")),
        note: "Azure Machine Learning docs, v2 revision of how-to-secure-workspace-vnet.md; an excerpt without front matter",
    },
    Document {
        name: SEED_003,
        dir: "shared/seeds",
        title: "Secure Azure Machine Learning workspace resources using virtual networks (VNets)",
        date: None,
        url: Some(learn_ml!("how-to-network-security-overview")),
        note: "Azure Machine Learning docs, how-to-network-security-overview.md (the article of 001); an excerpt without front matter",
    },
    Document {
        name: SEED_000,
        dir: "shared/seeds",
        title: "Virtual Network Configuration",
        date: None,
        url: None,
        note: "Azure portal self-help article microsoft.machinelearning.enterprisesecurity.virtualnetwork (Diagnose and solve problems on an Azure Machine Learning workspace); not published on learn.microsoft.com",
    },
    Document {
        name: SEED_004,
        dir: "shared/seeds",
        title: "Network isolation & privacy",
        date: Some("2020-05-11"),
        url: Some(learn_ml!("how-to-enable-virtual-network")),
        note: "Azure Machine Learning docs, SDK v1 article how-to-enable-virtual-network.md as of 2020; the page at this address has changed since",
    },
    Document {
        name: SOURCE_TRAINING_VNET,
        dir: "shared/sources",
        title: "Secure training environments with virtual networks",
        date: Some("2024-04-08"),
        url: Some(learn_ml!("how-to-secure-training-vnet")),
        note: "Azure Machine Learning docs, MicrosoftDocs/azure-ai-docs articles/machine-learning/how-to-secure-training-vnet.md",
    },
    Document {
        name: SOURCE_MANAGED_NETWORK,
        dir: "shared/sources",
        title: "Managed virtual network isolation",
        date: Some("2024-08-29"),
        url: Some(learn_ml!("how-to-managed-network")),
        note: "Azure Machine Learning docs, MicrosoftDocs/azure-ai-docs articles/machine-learning/how-to-managed-network.md",
    },
    Document {
        name: FACTS,
        dir: "shared/docs",
        title: "Azure Resource Manager facts for a network-isolated Azure ML workspace operator",
        date: None,
        url: None,
        note: "moat's notes on ARM and the ML network rules (sources S1-S19, 2023-2026); every statement names its public source in the notes' source list",
    },
    Document { name: CRD_SWS, dir: "crds", title: "SecureWorkspace CRD (CEL admission rules)", date: None, url: None, note: CRD_NOTE },
    Document { name: CRD_CSN, dir: "crds", title: "ComputeSubnet CRD (CEL admission rules)", date: None, url: None, note: CRD_NOTE },
    Document { name: CRD_PEB, dir: "crds", title: "PrivateEndpointBinding CRD (CEL admission rules)", date: None, url: None, note: CRD_NOTE },
];

const fn src(seed: &'static str, quote: &'static str) -> Source {
    Source { seed, quote, also: &[], note: None }
}

const fn cite(doc: &'static str, quote: &'static str) -> Citation {
    Citation { doc, quote }
}

// Sentences cited by several rules.
const Q_SAME_VNET_REGION_SUB: &str = "Azure Compute Instance and Azure Compute Clusters must be in the same VNet, region, and subscription as the workspace and its associated resources.";
const Q_V1_SAME_SUB_REGION: &str = "The virtual network must be in the same subscription and region as the Azure Machine Learning workspace.";
const Q_ONE_VNET: &str = "All resources must be behind the same VNet. However, subnets within the same VNet are allowed.";
const Q_RESERVED: &str = "Azure reserves the first four addresses and the last one in every subnet";
const Q_CUSTOM_DNS: &str = "If you need to use a custom DNS solution for your virtual network, you must add host records for your workspace.";
const Q_CAUTION_NSG: &str = "Exercise caution if you modify or add inbound or outbound rules in Batch-configured NSGs. If an NSG blocks communication to the compute nodes, the compute service sets the state of the compute nodes to unusable.";
const Q_SERVICE_CIDR: &str = "It must not overlap with any subnet IP ranges (for example, 10.0.0.0/16).";
const Q_DNS_IP: &str = "It must be within the Kubernetes service address range (for example, 10.0.0.10).";
const Q_BRIDGE: &str = "It must not be in any subnet IP ranges, or the Kubernetes service address range (for example, 172.17.0.1/16).";
const Q_PREMIUM: &str = "Your Azure Container Registry must be Premium version.";
const Q_CLUSTER: &str = "Your Azure Machine Learning workspace must contain an [Azure Machine Learning compute cluster](how-to-create-attach-compute-cluster.md).";
const Q_DATABRICKS: &str = "In addition to the __databricks-private__ and __databricks-public__ subnets used by Azure Databricks, the __default__ subnet created for the virtual network is also required.";
const Q_PLAN: &str = "Other ranges may also conflict depending on what you want to connect to the virtual network.";

const NOTE_SUBNETS: &str = "004 (2020-05-11) asks for the storage account, compute cluster and registry in one subnet; 001 (2022-08-19) allows different subnets of one VNet and 002 (v2) asks for one subnet only for service endpoints. The newer documents win: one VNet, any subnets.";

// ------------------------------------------------------------------------------------------------
// Schema: the CRDs' CEL and OpenAPI rules, mirrored offline.

pub static SCHEMA_001: Rule = Rule {
    id: "SCHEMA-001",
    severity: Error,
    concerns: Scope::All,
    title: "The manifest has the shape of its CRD: known kind and version, required fields present, values of the right type and enum",
    source: src(CRD_SWS, "openAPIV3Schema"),
};
pub static SCHEMA_002: Rule = Rule {
    id: "SCHEMA-002",
    severity: Error,
    concerns: Scope::All,
    title: "No unknown fields (kubectl's strict field validation rejects them; the apiserver would prune them)",
    source: src(CRD_SWS, "openAPIV3Schema"),
};
pub static SCHEMA_003: Rule = Rule {
    id: "SCHEMA-003",
    severity: Error,
    concerns: Scope::All,
    title: "CIDR fields are canonical IPv4 CIDRs",
    source: src(CRD_SWS, "must be an IPv4 CIDR in canonical form such as 10.0.0.0/16 (address, slash, prefix length, no host bits set)"),
};
pub static SCHEMA_004: Rule = Rule {
    id: "SCHEMA-004",
    severity: Error,
    concerns: Scope::All,
    title: "IP address fields are IPv4 addresses",
    source: src(CRD_CSN, "must be an IPv4 address such as 10.0.0.10"),
};
pub static SCHEMA_005: Rule = Rule {
    id: "SCHEMA-005",
    severity: Error,
    concerns: Scope::All,
    title: "subscriptionId is a UUID",
    source: src(CRD_SWS, "must be a subscription id in UUID form, 8-4-4-4-12 hexadecimal digits, such as 00000000-0000-0000-0000-000000000000"),
};
pub static SCHEMA_006: Rule = Rule {
    id: "SCHEMA-006",
    severity: Error,
    concerns: Scope::All,
    title: "ARM id fields are ARM resource ids",
    source: src(CRD_SWS, "must be an ARM resource id such as /subscriptions/<uuid>/resourceGroups/<rg>/providers/Microsoft.Network/virtualNetworks/<name>"),
};
pub static SCHEMA_007: Rule = Rule {
    id: "SCHEMA-007",
    severity: Error,
    concerns: Scope::All,
    title: "Each ARM id field names a resource of the type the field expects",
    source: src(CRD_SWS, "vnet.id must be the id of a Microsoft.Network/virtualNetworks resource"),
};
pub static SCHEMA_008: Rule = Rule {
    id: "SCHEMA-008",
    severity: Error,
    concerns: Scope::All,
    title: "location is an Azure region name in lower case without spaces",
    source: src(CRD_SWS, "must be an Azure region name in lower case without spaces, such as westeurope or eastus2"),
};
pub static SCHEMA_009: Rule = Rule {
    id: "SCHEMA-009",
    severity: Error,
    concerns: Scope::All,
    title: "Exactly one of name (create) or id (adopt) for the VNet and the associated resources; at most one for the NSG and route table",
    source: Source {
        seed: CRD_SWS,
        quote: "set exactly one of vnet.name (moat creates the VNet) or vnet.id (moat adopts an existing VNet)",
        also: &[cite(CRD_CSN, "set at most one of nsg.name (moat creates the NSG) or nsg.id (moat adopts it and adds only its own rules)")],
        note: None,
    },
};
pub static SCHEMA_010: Rule = Rule {
    id: "SCHEMA-010",
    severity: Error,
    concerns: Scope::All,
    title: "vnet.addressSpace is given (1-16 ranges) when moat creates the VNet",
    source: src(CRD_SWS, "vnet.addressSpace is required when moat creates the VNet (vnet.name is set): give one or more IPv4 CIDR ranges such as 10.0.0.0/16"),
};
pub static SCHEMA_011: Rule = Rule {
    id: "SCHEMA-011",
    severity: Error,
    concerns: Scope::All,
    title: "Azure resource names follow Azure's naming rules (characters and length), tags Azure's tag limits, and object names the limits of what moat derives from them",
    source: Source {
        seed: CRD_SWS,
        quote: "workspace.name must be 3-33 letters, digits, underscores or hyphens, starting with a letter or digit",
        also: &[
            cite(CRD_SWS, "tags values must be at most 256 characters (Azure's limit)"),
            cite(CRD_PEB, "metadata.name is longer than 80 characters, the longest private endpoint name Azure accepts: set spec.privateEndpointName"),
        ],
        note: None,
    },
};
pub static SCHEMA_012: Rule = Rule {
    id: "SCHEMA-012",
    severity: Error,
    concerns: Scope::All,
    title: "The private-endpoint subnet lies inside the VNet's address space",
    source: src(CRD_SWS, "network.privateEndpointSubnet.addressPrefix must lie inside one of network.vnet.addressSpace: choose a prefix inside the VNet's address space, or add a range that contains it"),
};
pub static SCHEMA_013: Rule = Rule {
    id: "SCHEMA-013",
    severity: Error,
    concerns: Scope::All,
    title: "The VNet's address-space ranges do not overlap",
    source: src(CRD_SWS, "vnet.addressSpace ranges must not overlap: remove or shrink the overlapping range"),
};
pub static SCHEMA_014: Rule = Rule {
    id: "SCHEMA-014",
    severity: Error,
    concerns: Scope::All,
    title: "A container registry moat creates is Premium (private endpoints need it)",
    source: Source {
        seed: SEED_002,
        quote: Q_PREMIUM,
        also: &[
            cite(SEED_004, "Your Azure Container Registry must be Premium version ."),
            cite(CRD_SWS, "containerRegistry.sku must be Premium: the registry is reached only through a private endpoint, which Azure Container Registry supports on the Premium SKU only; set sku: Premium"),
        ],
        note: None,
    },
};
pub static SCHEMA_015: Rule = Rule {
    id: "SCHEMA-015",
    severity: Error,
    concerns: Scope::All,
    title: "aks settings only on a ComputeSubnet of purpose Inference",
    source: src(CRD_CSN, "aks is only for purpose Inference (an AKS cluster): remove aks or set purpose: Inference"),
};
pub static SCHEMA_016: Rule = Rule {
    id: "SCHEMA-016",
    severity: Error,
    concerns: Scope::All,
    title: "The AKS service CIDR does not overlap the cluster's own subnet",
    source: Source {
        seed: SEED_004,
        quote: Q_SERVICE_CIDR,
        also: &[cite(CRD_CSN, "aks.serviceCidr must not overlap addressPrefix: Kubernetes service addresses must not be used by the cluster's subnet; pick a range outside the VNet such as 10.250.0.0/16")],
        note: None,
    },
};
pub static SCHEMA_017: Rule = Rule {
    id: "SCHEMA-017",
    severity: Error,
    concerns: Scope::All,
    title: "The Docker bridge CIDR does not overlap the cluster's own subnet",
    source: Source {
        seed: SEED_004,
        quote: Q_BRIDGE,
        also: &[cite(CRD_CSN, "aks.dockerBridgeCidr must not overlap addressPrefix: pick a bridge address outside the subnet, such as 172.17.0.1/16")],
        note: None,
    },
};
pub static SCHEMA_018: Rule = Rule {
    id: "SCHEMA-018",
    severity: Error,
    concerns: Scope::All,
    title: "The AKS DNS service IP lies inside the service CIDR",
    source: Source {
        seed: SEED_004,
        quote: Q_DNS_IP,
        also: &[cite(CRD_CSN, "aks.dnsServiceIP must lie inside aks.serviceCidr: pick an address in the service range, such as its .10 address")],
        note: None,
    },
};
pub static SCHEMA_019: Rule = Rule {
    id: "SCHEMA-019",
    severity: Error,
    concerns: Scope::All,
    title: "The Docker bridge CIDR does not overlap the AKS service CIDR",
    source: Source {
        seed: SEED_004,
        quote: Q_BRIDGE,
        also: &[cite(CRD_CSN, "aks.dockerBridgeCidr must not overlap aks.serviceCidr: pick a bridge range outside the service range")],
        note: None,
    },
};
pub static SCHEMA_020: Rule = Rule {
    id: "SCHEMA-020",
    severity: Error,
    concerns: Scope::All,
    title: "A private endpoint's groupId fits its target's resource type",
    source: src(CRD_PEB, "target.groupId does not fit target.id: amlworkspace needs a Microsoft.MachineLearningServices/workspaces id; blob, file, queue, table, dfs and web a Microsoft.Storage/storageAccounts id; vault a Microsoft.KeyVault/vaults id; registry a Microsoft.ContainerRegistry/registries id"),
};
pub static SCHEMA_021: Rule = Rule {
    id: "SCHEMA-021",
    severity: Error,
    concerns: Scope::All,
    title: "Extra outbound rules: unique names, a service tag, address or CIDR as destination, ports or ranges",
    source: Source {
        seed: CRD_CSN,
        quote: "extraRules[].destination must be a service tag (such as AzureMonitor or Storage.westeurope), an IPv4 address or a CIDR",
        also: &[
            cite(CRD_CSN, "outbound.extraRules names must be unique"),
            cite(CRD_CSN, "must be a port from 1 to 65535 such as 443, a range low-high with low <= high such as 8000-8100, or *"),
        ],
        note: None,
    },
};
pub static SCHEMA_022: Rule = Rule {
    id: "SCHEMA-022",
    severity: Error,
    concerns: Scope::All,
    title: "dns.zones is not an empty list in AzurePrivateDns mode",
    source: src(CRD_PEB, "dns.zones must not be empty in AzurePrivateDns mode: omit it to use the zones for the groupId, or set dns.mode: None"),
};
pub static SCHEMA_024: Rule = Rule {
    id: "SCHEMA-024",
    severity: Error,
    concerns: Scope::All,
    title: "storage.privateEndpoints lists blob and file, each service once",
    source: Source {
        seed: CRD_SWS,
        quote: "storage.privateEndpoints must include blob and file: the workspace's default datastores use both",
        also: &[cite(CRD_SWS, "storage.privateEndpoints must not list a service twice")],
        note: None,
    },
};
pub static SCHEMA_023: Rule = Rule {
    id: "SCHEMA-023",
    severity: Error,
    concerns: Scope::All,
    title: "Numbers and list lengths within the CRD's bounds (expectedNodes 0-100000, sshFrom up to 16, extraRules up to 32, ...)",
    source: src(CRD_CSN, "maximum: 100000"),
};

// ------------------------------------------------------------------------------------------------
// Network: VNet, address space, subnets.

pub static NET_001: Rule = Rule {
    id: "NET-001",
    severity: Error,
    concerns: Scope::Network,
    title: "All resources behind one VNet: a compute subnet lives in the workspace's VNet",
    source: Source {
        seed: SEED_001,
        quote: Q_ONE_VNET,
        also: &[
            cite(SEED_000, "Ensure all compute and data resources are in the same virtual network as the workspace."),
            cite(SEED_004, "If the Azure Storage Account(s) for the workspace are also secured in a virtual network, they must be in the same virtual network as the Azure Machine Learning compute instance or cluster."),
            cite(SEED_004, "Your storage account, compute cluster, and Azure Container Registry must all be in the same subnet of the virtual network."),
        ],
        note: Some(NOTE_SUBNETS),
    },
};
pub static NET_002: Rule = Rule {
    id: "NET-002",
    severity: Error,
    concerns: Scope::Network,
    title: "The VNet of the compute is in the workspace's region",
    source: Source {
        seed: SEED_001,
        quote: Q_SAME_VNET_REGION_SUB,
        also: &[cite(SEED_004, Q_V1_SAME_SUB_REGION)],
        note: None,
    },
};
pub static NET_003: Rule = Rule {
    id: "NET-003",
    severity: Error,
    concerns: Scope::Network,
    title: "The VNet of the compute is in the workspace's subscription",
    source: Source {
        seed: SEED_001,
        quote: Q_SAME_VNET_REGION_SUB,
        also: &[cite(SEED_004, Q_V1_SAME_SUB_REGION)],
        note: None,
    },
};
pub static NET_004: Rule = Rule {
    id: "NET-004",
    severity: Error,
    concerns: Scope::Network,
    title: "A subnet lies inside its VNet's address space",
    source: Source {
        seed: CRD_SWS,
        quote: "network.privateEndpointSubnet.addressPrefix must lie inside one of network.vnet.addressSpace",
        also: &[cite(CRD_CSN, "Address prefix inside the VNet's address space")],
        note: Some("Not stated in the seeds; Azure rejects a subnet outside the VNet's address space. The CRD's CEL rule checks the private-endpoint subnet of a created VNet; this rule also checks compute subnets and adopted VNets."),
    },
};
pub static NET_005: Rule = Rule {
    id: "NET-005",
    severity: Error,
    concerns: Scope::Network,
    title: "Subnets of one VNet do not overlap",
    source: Source {
        seed: SEED_002,
        quote: Q_PLAN,
        also: &[],
        note: Some("The seeds only warn that ranges conflict; Azure itself rejects overlapping subnets in one VNet."),
    },
};
pub static NET_006: Rule = Rule {
    id: "NET-006",
    severity: Warning,
    concerns: Scope::Network,
    title: "The VNet's address space avoids the Docker bridge default 172.17.0.0/16",
    source: src(SEED_002, "We do not recommend using the 172.17.0.0/16 IP address range for your VNet. This is the default subnet range used by the Docker bridge network."),
};
pub static NET_007: Rule = Rule {
    id: "NET-007",
    severity: Error,
    concerns: Scope::Network,
    title: "A subnet is /29 or larger (Azure keeps 5 addresses of every subnet)",
    source: Source {
        seed: FACTS,
        quote: Q_RESERVED,
        also: &[],
        note: Some("Not stated in the seeds; from the facts sheet §2.2 (Azure VNet FAQ)."),
    },
};
pub static NET_008: Rule = Rule {
    id: "NET-008",
    severity: Error,
    concerns: Scope::Network,
    title: "A compute subnet has a usable address for every expected node (size minus the 5 Azure reserves)",
    source: Source {
        seed: SEED_004,
        quote: "The subnet that's specified for the compute instance or cluster must have enough unassigned IP addresses to accommodate the number of VMs that are targeted.",
        also: &[cite(FACTS, Q_RESERVED)],
        note: None,
    },
};
pub static NET_009: Rule = Rule {
    id: "NET-009",
    severity: Error,
    concerns: Scope::Network,
    title: "The private-endpoint subnet has room for every private endpoint in it (workspace 3, registry 2, others 1 address)",
    source: Source {
        seed: SEED_001,
        quote: "The private endpoint connects the workspace to the vnet through several private IP addresses.",
        also: &[
            cite(FACTS, "A workspace private endpoint takes 2–3 IPs"),
            cite(FACTS, "An ACR private endpoint takes ≥2 (login server plus the regional data endpoint)"),
        ],
        note: None,
    },
};
pub static NET_010: Rule = Rule {
    id: "NET-010",
    severity: Error,
    concerns: Scope::Network,
    title: "A subnet for Azure ML compute or AKS is not delegated to another service",
    source: Source {
        seed: FACTS,
        quote: "The compute subnet **must not be delegated** to another service",
        also: &[],
        note: Some("Not stated in the seeds; from the facts sheet §5.4 item 9 (how-to-secure-training-vnet, 2024)."),
    },
};

// ------------------------------------------------------------------------------------------------
// NSG rules.

pub static NSG_001: Rule = Rule {
    id: "NSG-001",
    severity: Error,
    concerns: Scope::Nsg,
    title: "No existing Deny rule is evaluated before a required inbound Allow (BatchNodeManagement 29876-29877, AzureMachineLearning 44224, ...)",
    source: Source {
        seed: SEED_004,
        quote: Q_CAUTION_NSG,
        also: &[
            cite(SEED_004, "Inbound TCP traffic on ports 29876 and 29877 from a __Service Tag__ of __BatchNodeManagement__."),
            cite(SEED_004, "For compute instance inbound TCP traffic on port 44224 from a __Service Tag__ of __AzureMachineLearning__."),
        ],
        note: Some("004 lists 44224 for compute instances; the facts sheet (how-to-secure-training-vnet, 2024) lists it for clusters and instances with a public IP. The newer document wins: moat opens 44224 for both."),
    },
};
pub static NSG_002: Rule = Rule {
    id: "NSG-002",
    severity: Error,
    concerns: Scope::Nsg,
    title: "No existing Deny rule is evaluated before a required outbound Allow (restricted outbound service tags)",
    source: Source {
        seed: SEED_004,
        quote: "If you plan to secure the virtual network by restricting traffic, leave some ports open for the compute service.",
        also: &[
            cite(SEED_004, "For a __compute instance__ or a __compute cluster__, limit outbound traffic to the following items:"),
            cite(SEED_004, "If you plan on using default Docker images provided by Microsoft, and enabling user managed dependencies, you must also use a __Service Tag__ of __MicrosoftContainerRegistry.Region_Name__ (For example, MicrosoftContainerRegistry.EastUS)."),
        ],
        note: Some("004 names MicrosoftContainerRegistry.<Region>; the facts sheet (how-to-access-azureml-behind-firewall, 2026) names MicrosoftContainerRegistry and AzureFrontDoor.FirstParty. The newer document wins."),
    },
};
pub static NSG_003: Rule = Rule {
    id: "NSG-003",
    severity: Error,
    concerns: Scope::Nsg,
    title: "No existing rule holds a priority moat's rules need in the same direction",
    source: src(FACTS, "`priority`: an integer, 100–4096, unique per direction."),
};
pub static NSG_004: Rule = Rule {
    id: "NSG-004",
    severity: Warning,
    concerns: Scope::Nsg,
    title: "SSH (port 22) is open only to small, known source ranges",
    source: src(SEED_004, "(Optional) Inbound TCP traffic on port 22 to permit remote access. Use this port only if you want to connect by using SSH on the public IP."),
};
pub static NSG_006: Rule = Rule {
    id: "NSG-006",
    severity: Error,
    concerns: Scope::Nsg,
    title: "SSH (port 22) is never open to the internet: nsg.sshFrom holds at most a /16 of public addresses",
    source: Source {
        seed: SEED_004,
        quote: "To allow Azure Machine Learning to communicate with the SSH port on the VM or cluster, configure a source entry for the network security group.",
        also: &[cite(SEED_004, "In the __Source service tag__ drop-down list, select __AzureMachineLearning__.")],
        note: Some("the documented source of SSH is Azure Machine Learning's service tag (or an admin range), not the internet; a network-isolated workspace never opens port 22 to it"),
    },
};
pub static NSG_005: Rule = Rule {
    id: "NSG-005",
    severity: Error,
    concerns: Scope::Nsg,
    title: "Restricted outbound has no extra rule that opens the internet again (destination Internet, *, or a range with more than a /16 of public addresses)",
    source: src(SEED_004, "Deny outbound internet connection by using the NSG rules."),
};

// ------------------------------------------------------------------------------------------------
// Routes (forced tunneling).

pub static UDR_001: Rule = Rule {
    id: "UDR-001",
    severity: Error,
    concerns: Scope::Routes,
    title: "Forced tunneling (0.0.0.0/0 to an appliance or gateway) needs routes for the Batch and Azure ML service tags with next hop Internet",
    source: Source {
        seed: SEED_004,
        quote: "If you're using forced tunneling with the Machine Learning Compute, add [user-defined routes (UDRs)](https://docs.microsoft.com/azure/virtual-network/virtual-networks-udr-overview) to the subnet that contains the compute resource.",
        also: &[cite(SEED_001, "You need to configure User Defined Routing (UDR) if you use a firewall.")],
        note: None,
    },
};
pub static UDR_002: Rule = Rule {
    id: "UDR-002",
    severity: Error,
    concerns: Scope::Routes,
    title: "No existing route sends the Batch or Azure ML service tags anywhere but the Internet",
    source: src(SEED_004, "When you add the UDRs, define the route for each related Batch IP address prefix and set __Next hop type__ to __Internet__."),
};

// ------------------------------------------------------------------------------------------------
// AKS (inference).

pub static AKS_001: Rule = Rule {
    id: "AKS-001",
    severity: Error,
    concerns: Scope::Network,
    title: "The AKS service CIDR does not overlap any subnet of the VNet",
    source: src(SEED_004, Q_SERVICE_CIDR),
};
pub static AKS_002: Rule = Rule {
    id: "AKS-002",
    severity: Warning,
    concerns: Scope::Network,
    title: "The AKS service CIDR lies outside the VNet's address space (future subnets would collide)",
    source: Source {
        seed: SEED_004,
        quote: Q_SERVICE_CIDR,
        also: &[cite(CRD_CSN, "pick a range outside the VNet such as 10.250.0.0/16")],
        note: None,
    },
};
pub static AKS_003: Rule = Rule {
    id: "AKS-003",
    severity: Error,
    concerns: Scope::Network,
    title: "The Docker bridge CIDR (default 172.17.0.0/16) overlaps no subnet of the VNet and not the service CIDR",
    source: src(SEED_004, Q_BRIDGE),
};
pub static AKS_004: Rule = Rule {
    id: "AKS-004",
    severity: Error,
    concerns: Scope::Network,
    title: "No AKS cluster with private link (private cluster) in an inference subnet",
    source: src(SEED_004, "Azure Machine Learning does not support using an Azure Kubernetes Service that has private link enabled."),
};
pub static AKS_005: Rule = Rule {
    id: "AKS-005",
    severity: Error,
    concerns: Scope::Network,
    title: "The AKS cluster is in the VNet's region",
    source: src(SEED_004, "The AKS instance and the Azure virtual network must be in the same region."),
};
pub static AKS_006: Rule = Rule {
    id: "AKS-006",
    severity: Warning,
    concerns: Scope::Nsg,
    title: "An inference (AKS) subnet keeps the default outbound rules",
    source: src(SEED_004, "Keep the default outbound rules for the NSG."),
};

// ------------------------------------------------------------------------------------------------
// ACI and Databricks.

pub static ACI_001: Rule = Rule {
    id: "ACI-001",
    severity: Error,
    concerns: Scope::Network,
    title: "A Container Instances subnet is delegated to Microsoft.ContainerInstance/containerGroups (and not to another service)",
    source: Source {
        seed: SEED_004,
        quote: "When enabling delegation, use `Microsoft.ContainerInstance/containerGroups` as the __Delegate subnet to service__ value.",
        also: &[cite(SEED_004, "To enable Azure Machine Learning to create ACI inside the virtual network, you must enable __subnet delegation__ for the subnet used by the deployment.")],
        note: None,
    },
};
pub static ACI_002: Rule = Rule {
    id: "ACI-002",
    severity: Warning,
    concerns: Scope::Network,
    title: "Deploying to ACI in a VNet is not supported when the workspace has a private endpoint (current docs)",
    source: Source {
        seed: FACTS,
        quote: "deploying to ACI in a VNet is **not supported** when the workspace has a PE",
        also: &[cite(SEED_004, "Azure Container Instances are dynamically created when deploying a model.")],
        note: Some("004 (2020) describes ACI in a VNet with a delegated subnet; the current inference docs (facts sheet §5.4 item 15, 2024-2025) say ACI in a VNet is not supported with a private-endpoint workspace. The newer documents win: a warning on every ContainerInstances subnet, since every SecureWorkspace has a private endpoint."),
    },
};
pub static DBX_001: Rule = Rule {
    id: "DBX-001",
    severity: Warning,
    concerns: Scope::Network,
    title: "Azure Databricks has its two subnets (public and private) in the VNet",
    source: src(SEED_004, Q_DATABRICKS),
};
pub static DBX_002: Rule = Rule {
    id: "DBX-002",
    severity: Warning,
    concerns: Scope::Network,
    title: "A VNet with Azure Databricks also has a subnet named default",
    source: src(SEED_004, Q_DATABRICKS),
};

// ------------------------------------------------------------------------------------------------
// Workspace and associated resources.

pub static WS_001: Rule = Rule {
    id: "WS-001",
    severity: Info,
    concerns: Scope::Workspace,
    title: "Public network access on a secured workspace is optional; the workspace stays behind its private endpoint",
    source: Source {
        seed: SEED_001,
        quote: "You can optionally enable public access for a secured workspace.",
        also: &[cite(SEED_000, "Ensure your workspace is behind a private endpoint, which requires users to connect to your workspace through private IP addresses.")],
        note: Some("000 (undated portal guide) asks for the workspace behind a private endpoint; 001 (2022-08-19) allows public access in addition. The newer document wins: Info, not Warning."),
    },
};
pub static WS_002: Rule = Rule {
    id: "WS-002",
    severity: Error,
    concerns: Scope::Workspace,
    title: "Trusted Microsoft services may pass the storage, key vault and registry firewalls",
    source: Source {
        seed: SEED_001,
        quote: "Also allow trusted Microsoft services to access these services:",
        also: &[
            cite(SEED_004, "Under __Allow trusted Microsoft services to bypass this firewall__, select __Yes__."),
            cite(SEED_004, "Select the __Allow trusted Microsoft services to access this storage account__ check box."),
        ],
        note: Some("001 also allows a resource-instance rule instead of the trusted-services exception for storage, but not for key vault and registry."),
    },
};
pub static WS_003: Rule = Rule {
    id: "WS-003",
    severity: Error,
    concerns: Scope::Workspace,
    title: "Adopted associated resources (storage, key vault, registry) are in the workspace's subscription",
    source: src(SEED_001, Q_SAME_VNET_REGION_SUB),
};
pub static WS_004: Rule = Rule {
    id: "WS-004",
    severity: Error,
    concerns: Scope::Workspace,
    title: "Adopted associated resources (storage, key vault, registry) are in the workspace's region",
    source: src(SEED_001, Q_SAME_VNET_REGION_SUB),
};

pub static REG_001: Rule = Rule {
    id: "REG-001",
    severity: Error,
    concerns: Scope::Workspace,
    title: "An adopted container registry is Premium",
    source: Source {
        seed: SEED_002,
        quote: Q_PREMIUM,
        also: &[cite(SEED_001, "For Azure Container Services, use a private endpoint.")],
        note: None,
    },
};
pub static REG_002: Rule = Rule {
    id: "REG-002",
    severity: Warning,
    concerns: Scope::Workspace,
    title: "With the registry behind the VNet, the workspace names a compute cluster for image builds (workspace.imageBuildCompute)",
    source: Source {
        seed: SEED_002,
        quote: Q_CLUSTER,
        also: &[cite(SEED_004, "When ACR is behind a virtual network, Azure Machine Learning cannot use it to directly build Docker images. Instead, the compute cluster is used to build the images.")],
        note: Some("A Warning, not an Error: the cluster can only be created once the workspace exists, so the workspace converges first and image builds fail until a cluster is named."),
    },
};
pub static REG_003: Rule = Rule {
    id: "REG-003",
    severity: Warning,
    concerns: Scope::Workspace,
    title: "The image-build compute cluster has a Training subnet to run in",
    source: src(SEED_002, Q_CLUSTER),
};

pub static STO_001: Rule = Rule {
    id: "STO-001",
    severity: Error,
    concerns: Scope::Endpoint,
    title: "The workspace's storage is reached in the same VNet as the compute",
    source: Source {
        seed: SEED_004,
        quote: "If the Azure Storage Account(s) for the workspace are also secured in a virtual network, they must be in the same virtual network as the Azure Machine Learning compute instance or cluster.",
        also: &[
            cite(SEED_004, "The storage account must be in the same virtual network and subnet as the compute instances or clusters used for training or inference."),
            cite(SEED_001, Q_ONE_VNET),
        ],
        note: Some(NOTE_SUBNETS),
    },
};
pub static STO_002: Rule = Rule {
    id: "STO-002",
    severity: Warning,
    concerns: Scope::Network,
    title: "With storage on service endpoints, the workspace's private-endpoint subnet has the Microsoft.Storage service endpoint too (studio)",
    source: src(SEED_002, "If the storage account uses a __service endpoint__, the workspace private endpoint and storage service endpoint must be in the same subnet of the VNet."),
};

// ------------------------------------------------------------------------------------------------
// Private endpoints.

pub static PE_001: Rule = Rule {
    id: "PE-001",
    severity: Error,
    concerns: Scope::Endpoint,
    title: "A private endpoint to the workspace, its key vault or registry is in the workspace's VNet",
    source: Source {
        seed: SEED_002,
        quote: "If your Azure Container Registry uses a __private endpoint__, it must be in the same _virtual network_ as the storage account and compute targets used for training or inference.",
        also: &[
            cite(SEED_000, "Ensure all your associated resources (storage accounts, container registry, key vaults) are in the same virtual network as the workspace."),
            cite(SEED_004, "Your Azure Container Registry must be in the same virtual network and subnet as the storage account and compute targets used for training or inference."),
        ],
        note: Some("004 (2020) asks for the registry in the same VNet and subnet; 002 (v2) asks for the same VNet with a private endpoint and the same subnet only with a service endpoint. The newer document wins: same VNet."),
    },
};
pub static PE_002: Rule = Rule {
    id: "PE-002",
    severity: Error,
    concerns: Scope::Endpoint,
    title: "A private endpoint is in its VNet's region",
    source: src(CRD_PEB, "Region of the endpoint; it must be the VNet's region."),
};
pub static PE_003: Rule = Rule {
    id: "PE-003",
    severity: Warning,
    concerns: Scope::Endpoint,
    title: "Private-endpoint network policies are disabled on the endpoint's subnet",
    source: Source {
        seed: FACTS,
        quote: "Disable PE network policies on the PE subnet before adding PEs.",
        also: &[],
        note: Some("Not stated in the seeds. The AML private-link doc still says to disable them (2024); the platform default is Disabled and endpoints are accepted with policies enabled since 2023, so a Warning."),
    },
};

// ------------------------------------------------------------------------------------------------
// DNS.

pub static DNS_001: Rule = Rule {
    id: "DNS-001",
    severity: Info,
    concerns: Scope::Dns,
    title: "Custom DNS: the DNS server must serve the private endpoints' host records (listed in status)",
    source: src(SEED_001, Q_CUSTOM_DNS),
};
pub static DNS_002: Rule = Rule {
    id: "DNS-002",
    severity: Warning,
    concerns: Scope::Dns,
    title: "Custom DNS mode needs custom DNS servers on the VNet",
    source: src(SEED_001, Q_CUSTOM_DNS),
};
pub static DNS_003: Rule = Rule {
    id: "DNS-003",
    severity: Warning,
    concerns: Scope::Dns,
    title: "Azure private DNS zones answer only through Azure DNS: a VNet with custom DNS servers must forward the privatelink zones",
    source: src(SEED_001, Q_CUSTOM_DNS),
};
pub static DNS_004: Rule = Rule {
    id: "DNS-004",
    severity: Warning,
    concerns: Scope::Dns,
    title: "A private endpoint without DNS resolves to its public address",
    source: src(SEED_001, Q_CUSTOM_DNS),
};
pub static DNS_005: Rule = Rule {
    id: "DNS-005",
    severity: Warning,
    concerns: Scope::Dns,
    title: "Explicit private DNS zones are the documented privatelink zones of the groupId",
    source: Source {
        seed: FACTS,
        quote: "Auto-generated records only appear when the zone uses the recommended name",
        also: &[],
        note: Some("Not stated in the seeds; from the facts sheet §2.6 and §3."),
    },
};
pub static DNS_006: Rule = Rule {
    id: "DNS-006",
    severity: Error,
    concerns: Scope::Dns,
    title: "No two private endpoints need different addresses for the same name in the same private DNS zone (one zone answers in every VNet linked to it)",
    source: Source {
        seed: FACTS,
        quote: "Do not link one zone to PEs of two different services of the same type in a way that overwrites A records.",
        also: &[],
        note: Some("A second endpoint's zone group rewrites the first one's A record in a shared zone; moat reports the pair instead and never registers over another endpoint's record."),
    },
};

/// Every rule, in id order.
pub static CATALOG: &[&Rule] = &[
    &SCHEMA_001, &SCHEMA_002, &SCHEMA_003, &SCHEMA_004, &SCHEMA_005, &SCHEMA_006, &SCHEMA_007, &SCHEMA_008,
    &SCHEMA_009, &SCHEMA_010, &SCHEMA_011, &SCHEMA_012, &SCHEMA_013, &SCHEMA_014, &SCHEMA_015, &SCHEMA_016,
    &SCHEMA_017, &SCHEMA_018, &SCHEMA_019, &SCHEMA_020, &SCHEMA_021, &SCHEMA_022, &SCHEMA_023, &SCHEMA_024,
    &NET_001, &NET_002, &NET_003, &NET_004, &NET_005, &NET_006, &NET_007, &NET_008, &NET_009, &NET_010,
    &NSG_001, &NSG_002, &NSG_003, &NSG_004, &NSG_005, &NSG_006,
    &UDR_001, &UDR_002,
    &AKS_001, &AKS_002, &AKS_003, &AKS_004, &AKS_005, &AKS_006,
    &ACI_001, &ACI_002, &DBX_001, &DBX_002,
    &WS_001, &WS_002, &WS_003, &WS_004,
    &REG_001, &REG_002, &REG_003,
    &STO_001, &STO_002,
    &PE_001, &PE_002, &PE_003,
    &DNS_001, &DNS_002, &DNS_003, &DNS_004, &DNS_005, &DNS_006,
];

/// The rule with this id.
/// How the controllers check a rule on live objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Liveness {
    /// Evaluated on every reconcile with the inputs `moat validate --observed` would have: the
    /// object, its workspace, its sibling ComputeSubnets, the bindings and workspaces moat watches,
    /// and the Azure facts the reconcile read.
    Reconcile,
    /// Enforced by the CRD schema (OpenAPI and CEL) at admission: the apiserver never stores an
    /// object that breaks it; the reconcilers still run the mirror.
    Admission,
    /// Checked offline only (`moat validate --observed`), for the reason given.
    Offline(&'static str),
}

impl std::fmt::Display for Liveness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Liveness::Reconcile => f.write_str("every reconcile"),
            Liveness::Admission => f.write_str("admission"),
            Liveness::Offline(why) => write!(f, "offline only: {why}"),
        }
    }
}

/// How the controllers check `rule` (see [`Liveness`]).
pub fn liveness(rule: &Rule) -> Liveness {
    match rule.id {
        id if id.starts_with("SCHEMA-") => Liveness::Admission,
        "AKS-004" | "AKS-005" => Liveness::Offline(
            "moat does not create or name the AKS cluster: it is attached to the subnet after moat converges, and nothing in a ComputeSubnet says which cluster uses it; give its facts to `moat validate --observed` (aksClusters)",
        ),
        _ => Liveness::Reconcile,
    }
}

pub fn rule(id: &str) -> Option<&'static Rule> {
    CATALOG.iter().copied().find(|r| r.id == id)
}

/// A statement of an older document that a newer one replaced, and what the catalog does about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Superseded {
    pub old: Citation,
    pub new: Citation,
    pub decision: &'static str,
}

/// Older statements the catalog does not enforce because a newer document replaced them.
pub static SUPERSEDED: &[Superseded] = &[
    Superseded {
        old: cite(SEED_004, "Azure Machine Learning compute instances preview is not supported in a workspace where Private Link is enabled."),
        new: cite(SEED_001, "Create an Azure Machine Learning [compute instance and computer cluster in the virtual network](how-to-secure-training-vnet.md) to run the training job."),
        decision: "Compute instances are allowed in a private-link workspace; no rule.",
    },
    Superseded {
        old: cite(SEED_004, "Your Azure Machine Learning workspace must be Enterprise edition."),
        new: cite(SEED_001, "Create a [Private Link-enabled workspace](how-to-secure-workspace-vnet.md#secure-the-workspace-with-private-endpoint) to enable communication between your VNet and workspace."),
        decision: "Editions are gone (the v2 article has no edition requirement); no rule.",
    },
    Superseded {
        old: cite(SEED_004, "Your storage account, compute cluster, and Azure Container Registry must all be in the same subnet of the virtual network."),
        new: cite(SEED_001, Q_ONE_VNET),
        decision: "Same VNet, any subnets (NET-001, PE-001, STO-001).",
    },
    Superseded {
        old: cite(SEED_004, "Your Azure Container Registry must be in the same virtual network and subnet as the storage account and compute targets used for training or inference."),
        new: cite(SEED_002, "If your Azure Container Registry uses a __private endpoint__, it must be in the same _virtual network_ as the storage account and compute targets used for training or inference."),
        decision: "moat reaches the registry through a private endpoint: same VNet (PE-001).",
    },
];

/// A documented constraint the catalog cannot check from the specs and observed facts, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Unchecked {
    pub cite: Citation,
    pub why: &'static str,
}

/// Constraints of the seeds that no rule checks, each with the reason.
pub static UNCHECKED: &[Unchecked] = &[
    Unchecked {
        cite: cite(SEED_004, "For compute instance Jupyter functionality to work, ensure that web socket communication is not disabled."),
        why: "A property of firewalls and proxies outside the VNet; the Restricted outbound rules allow AzureMachineLearning on 443.",
    },
    Unchecked {
        cite: cite(SEED_004, "Check to see whether your security policies or locks on the virtual network's subscription or resource group restrict permissions to manage the virtual network."),
        why: "Azure Policy and locks are not part of the observed facts; ARM reports them when moat writes.",
    },
    Unchecked {
        cite: cite(SEED_004, "If you're going to put multiple compute instances or clusters in one virtual network, you might need to request a quota increase for one or more of your resources."),
        why: "Quotas are not observed.",
    },
    Unchecked {
        cite: cite(SEED_004, "Outbound traffic to Azure Storage must not be blocked by your on-premises network appliance."),
        why: "The appliance's rules are outside Azure; moat's own NSG allows Storage.<region> in Restricted mode.",
    },
    Unchecked {
        cite: cite(SEED_004, "Make sure that the NSG group that controls the virtual network has an inbound security rule enabled for the scoring endpoint so that it can be called from outside the virtual network."),
        why: "Not a check: moat renders the rule (moat-in-scoring, from VirtualNetwork, which includes peered and connected on-premises networks) on Inference subnets.",
    },
    Unchecked {
        cite: cite(SEED_004, "You cannot enable private IP when creating the Azure Kubernetes Service cluster. It must be enabled as an update to an existing cluster."),
        why: "moat does not create AKS clusters.",
    },
    Unchecked {
        cite: cite(SEED_004, "Azure Machine Learning supports only virtual machines that are running Ubuntu."),
        why: "moat has no kind for attached virtual machines.",
    },
    Unchecked {
        cite: cite(SEED_004, "When working with the Azure Machine Learning SDK, your development environment must be able to connect to the Azure Storage Account."),
        why: "Client access is outside the VNet's configuration.",
    },
    Unchecked {
        cite: cite(SEED_001, "[ML-assisted data labeling](how-to-create-image-labeling-projects.md#use-ml-assisted-data-labeling) doesn't support a default storage account behind a virtual network."),
        why: "A feature limitation of every SecureWorkspace (its default storage is always behind the VNet), not a configuration error.",
    },
    Unchecked {
        cite: cite(SEED_001, "You must also create a virtual machine 'jump box' in the same VNet as your workspace, and enable Azure Bastion connectivity to it."),
        why: "Only for Microsoft Sentinel integration, which moat does not manage.",
    },
];
