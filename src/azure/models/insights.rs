//! Microsoft.Insights Application Insights components (2020-02-02).
//!
//! **No spec for this type is bundled under shared/azure-specs** (its README: "Not copied:
//! specification/applicationinsights"). The property names below follow the upstream
//! `applicationinsights/.../stable/2020-02-02/components_API.json`, whose `properties` use
//! PascalCase and snake-ish names (`Application_Type`, `WorkspaceResourceId`, ...). The
//! conformance test cannot check this model until that spec is added. The PUT is synchronous
//! (200 only) in that spec; the PATCH takes tags only.

use serde::{Deserialize, Serialize};

use super::common::{ProvisioningState, Tags, null_default};
use super::{ArmResource, PutBody};
use crate::azure::id::ResourceId;

/// `Microsoft.Insights/components` (`ApplicationInsightsComponent`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Component {
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub id: Option<ResourceId>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub name: Option<String>,
    /// Read-only.
    #[serde(default, rename = "type", skip_serializing)]
    pub resource_type: Option<String>,
    /// Region (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// Kind (required; `web`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Etag (not sent).
    #[serde(default, skip_serializing)]
    pub etag: Option<String>,
    /// Properties.
    #[serde(default, deserialize_with = "null_default")]
    pub properties: ComponentProperties,
}

/// `ApplicationInsightsComponentProperties`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ComponentProperties {
    /// `web` | `other` (required).
    #[serde(default, rename = "Application_Type", skip_serializing_if = "Option::is_none")]
    pub application_type: Option<String>,
    /// `Bluefield` when created through REST.
    #[serde(default, rename = "Flow_Type", skip_serializing_if = "Option::is_none")]
    pub flow_type: Option<String>,
    /// `rest` when created through REST.
    #[serde(default, rename = "Request_Source", skip_serializing_if = "Option::is_none")]
    pub request_source: Option<String>,
    /// Log Analytics workspace (required for new components).
    #[serde(default, rename = "WorkspaceResourceId", skip_serializing_if = "Option::is_none")]
    pub workspace_resource_id: Option<ResourceId>,
    /// `ApplicationInsights` | `ApplicationInsightsWithDiagnosticSettings` | `LogAnalytics`.
    #[serde(default, rename = "IngestionMode", skip_serializing_if = "Option::is_none")]
    pub ingestion_mode: Option<String>,
    /// `Enabled` | `Disabled`.
    #[serde(default, rename = "publicNetworkAccessForIngestion", skip_serializing_if = "Option::is_none")]
    pub public_network_access_for_ingestion: Option<String>,
    /// `Enabled` | `Disabled`.
    #[serde(default, rename = "publicNetworkAccessForQuery", skip_serializing_if = "Option::is_none")]
    pub public_network_access_for_query: Option<String>,
    /// Entra-only auth.
    #[serde(default, rename = "DisableLocalAuth", skip_serializing_if = "Option::is_none")]
    pub disable_local_auth: Option<bool>,
    /// Read-only.
    #[serde(default, rename = "AppId", skip_serializing)]
    pub app_id: Option<String>,
    /// Read-only.
    #[serde(default, rename = "ApplicationId", skip_serializing)]
    pub application_id: Option<String>,
    /// Read-only.
    #[serde(default, rename = "InstrumentationKey", skip_serializing)]
    pub instrumentation_key: Option<String>,
    /// Read-only.
    #[serde(default, rename = "ConnectionString", skip_serializing)]
    pub connection_string: Option<String>,
    /// Read-only.
    #[serde(default, rename = "provisioningState", skip_serializing)]
    pub provisioning_state: Option<ProvisioningState>,
    /// Read-only.
    #[serde(default, rename = "TenantId", skip_serializing)]
    pub tenant_id: Option<String>,
    /// Read-only.
    #[serde(default, rename = "CreationDate", skip_serializing)]
    pub creation_date: Option<String>,
}

impl ArmResource for Component {
    const RESOURCE_TYPE: &'static str = "Microsoft.Insights/components";
    fn provisioning_state(&self) -> Option<&ProvisioningState> {
        self.properties.provisioning_state.as_ref()
    }
    fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }
    fn id(&self) -> Option<&ResourceId> {
        self.id.as_ref()
    }
}

impl PutBody for Component {
    type Resource = Component;
}

impl super::network::TagsPatchable for Component {}
