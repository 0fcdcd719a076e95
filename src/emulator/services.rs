//! Private DNS (zones, virtual network links, record sets), Azure ML workspaces and computes,
//! storage accounts, key vaults (with soft delete), container registries and Application
//! Insights components.

use serde_json::{Map, Value, json};

use super::error::ArmError;
use super::hooks::WriteCtx;
use super::json::{array, default, eq_ci, get_map, obj, ref_id, str_in};
use super::path;
use super::state::{DeletedVault, Entry, Prov, State, new_guid, now_rfc3339};
use super::types::{self, TypeSpec};

fn props_of(e: &Entry) -> Map<String, Value> {
    match e.body.get("properties") {
        Some(Value::Object(p)) => p.clone(),
        _ => Map::new(),
    }
}

fn guid_meta(meta: &mut Map<String, Value>, key: &str) -> String {
    if let Some(s) = meta.get(key).and_then(Value::as_str) {
        return s.to_string();
    }
    let g = new_guid();
    meta.insert(key.into(), Value::String(g.clone()));
    g
}

fn enum_value(
    m: &mut Map<String, Value>,
    key: &str,
    allowed: &[&'static str],
    dflt: Option<&'static str>,
    code: &str,
) -> Result<(), ArmError> {
    match m.get(key) {
        None | Some(Value::Null) => {
            if let Some(d) = dflt {
                m.insert(key.into(), json!(d));
            }
            Ok(())
        }
        Some(Value::String(s)) => match allowed.iter().find(|a| a.eq_ignore_ascii_case(s)) {
            Some(c) => {
                m.insert(key.into(), json!(c));
                Ok(())
            }
            None => Err(ArmError::bad_request(
                code,
                format!(
                    "The value '{s}' is not valid for '{key}'. Allowed values: {}.",
                    allowed.join(", ")
                ),
            )),
        },
        Some(other) => Err(ArmError::bad_request(
            code,
            format!("The value {other} is not valid for '{key}'."),
        )),
    }
}

pub fn is_record_type(spec: &TypeSpec) -> bool {
    spec.canonical
        .starts_with("Microsoft.Network/privateDnsZones/")
        && types::DNS_RECORD_TYPES.iter().any(|t| spec.leaf() == *t)
}

/// Private-endpoint connections of a private-link target, derived from the endpoints pointing at it.
fn pe_connections(st: &State, target: &Entry) -> Vec<Value> {
    let mut out = Vec::new();
    for pe in st.of_type(types::PRIVATE_ENDPOINT) {
        let p = props_of(pe);
        let guid = pe
            .meta
            .get("resourceGuid")
            .and_then(Value::as_str)
            .unwrap_or_default();
        for field in [
            "privateLinkServiceConnections",
            "manualPrivateLinkServiceConnections",
        ] {
            for c in array(&p, field) {
                let Some(t) = super::json::get_str(c, "properties.privateLinkServiceId") else {
                    continue;
                };
                if path::key_of(t) != target.key {
                    continue;
                }
                let name = format!("{}.{guid}", pe.name);
                let state = super::json::get(c, "properties.privateLinkServiceConnectionState")
                    .cloned()
                    .unwrap_or(json!({}));
                let groups = super::json::get(c, "properties.groupIds")
                    .cloned()
                    .unwrap_or(json!([]));
                out.push(json!({
                    "id": format!("{}/privateEndpointConnections/{name}", target.id),
                    "name": name,
                    "type": format!("{}/privateEndpointConnections", target.spec.canonical),
                    "properties": {
                        "privateEndpoint": {"id": pe.id},
                        "privateLinkServiceConnectionState": state,
                        "groupIds": groups,
                        "provisioningState": "Succeeded",
                    }
                }));
            }
        }
    }
    out
}

fn location_of(e: &Entry, st: &State) -> String {
    e.body
        .get("location")
        .and_then(Value::as_str)
        .unwrap_or(&st.cfg.location_default)
        .to_string()
}

fn check_global(w: &WriteCtx) -> Result<(), ArmError> {
    if !eq_ci(&w.location, "global") {
        return Err(ArmError::bad_request(
            "LocationNotAvailableForResourceType",
            format!(
                "The provided location '{}' is not available for resource type '{}'. List of available regions for the resource type is 'global'.",
                w.location, w.spec.canonical
            ),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Private DNS

pub fn put_dns_zone(_st: &mut State, w: &mut WriteCtx) -> Result<(), ArmError> {
    check_global(w)?;
    guid_meta(&mut w.meta, "internalId");
    w.props();
    Ok(())
}

/// Every zone starts with an SOA record set at `@`.
pub fn ensure_soa(st: &mut State, zone_key: &str) {
    let Some(zone) = st.get(zone_key).cloned() else {
        return;
    };
    let Some(spec) = types::lookup("Microsoft.Network/privateDnsZones/SOA") else {
        return;
    };
    let id = format!("{}/SOA/@", zone.id);
    let key = path::key_of(&id);
    if st.get(&key).is_some() {
        return;
    }
    let seq = st.next_seq();
    let body = json!({"properties": {
        "ttl": 3600,
        "soaRecord": {
            "email": "azureprivatedns-host.microsoft.com",
            "expireTime": 2419200,
            "host": "azureprivatedns.net",
            "minimumTtl": 10,
            "refreshTime": 3600,
            "retryTime": 300,
            "serialNumber": 1,
        },
        "isAutoRegistered": false,
    }});
    st.entries.insert(
        key.clone(),
        Entry {
            id,
            key,
            spec,
            name: "@".into(),
            sub: zone.sub.clone(),
            rg: zone.rg.clone(),
            parent: Some(zone.key.clone()),
            root: zone.key.clone(),
            body: body.as_object().cloned().unwrap_or_default(),
            meta: Map::new(),
            etag: State::new_etag(spec),
            prov: Prov::Succeeded,
            seq,
            created_at: now_rfc3339(),
        },
    );
}

/// Whether two zone names overlap (one is the other or a sub-domain of it).
fn namespaces_overlap(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
    a == b || a.ends_with(&format!(".{b}")) || b.ends_with(&format!(".{a}"))
}

pub fn put_dns_link(st: &mut State, w: &mut WriteCtx) -> Result<(), ArmError> {
    check_global(w)?;
    let props = w.props_ref();
    let Some(vnet_id) = ref_id(&props, "virtualNetwork").map(str::to_string) else {
        return Err(ArmError::bad_request(
            "BadRequest",
            "The virtual network link needs properties.virtualNetwork.id.",
        ));
    };
    if !st
        .get_by_id(&vnet_id)
        .is_some_and(|v| v.spec.is(types::VNET))
    {
        return Err(ArmError::invalid_resource_reference(&vnet_id, &w.id));
    }
    let zone_key = w.parent.clone().unwrap_or_default();
    let zone_name = st
        .get(&zone_key)
        .map(|z| z.name.clone())
        .unwrap_or_default();
    let vnet_key = path::key_of(&vnet_id);
    for link in st.of_type(types::DNS_LINK) {
        if link.key == w.key {
            continue;
        }
        let lp = props_of(link);
        if ref_id(&lp, "virtualNetwork").map(path::key_of) != Some(vnet_key.clone()) {
            continue;
        }
        let other_zone = link
            .parent
            .as_deref()
            .and_then(|k| st.get(k))
            .map(|z| z.name.clone())
            .unwrap_or_default();
        if link.parent.as_deref() == Some(zone_key.as_str()) {
            return Err(ArmError::conflict(
                "Conflict",
                format!(
                    "A virtual network cannot be linked to the same zone more than once. Virtual network '{vnet_id}' is already linked to zone '{zone_name}' by link '{}'.",
                    link.name
                ),
            ));
        }
        if namespaces_overlap(&zone_name, &other_zone) {
            return Err(ArmError::conflict(
                "Conflict",
                format!(
                    "A virtual network cannot be linked to multiple zones with overlapping namespaces. You tried to link virtual network with '{other_zone}' and '{zone_name}' zones."
                ),
            ));
        }
    }
    let p = w.props();
    p.insert("virtualNetwork".into(), json!({"id": vnet_id}));
    match p.get("registrationEnabled") {
        None | Some(Value::Null) => {
            p.insert("registrationEnabled".into(), json!(false));
        }
        Some(Value::Bool(_)) => {}
        Some(other) => {
            return Err(ArmError::bad_request(
                "BadRequest",
                format!("registrationEnabled must be a boolean, got {other}."),
            ));
        }
    }
    // 2024-06-01 has no resolutionPolicy; newer versions default it to Default.
    if p.contains_key("resolutionPolicy") {
        enum_value(
            p,
            "resolutionPolicy",
            &["Default", "NxDomainRedirect"],
            None,
            "BadRequest",
        )?;
    }
    Ok(())
}

pub fn put_record(_st: &mut State, w: &mut WriteCtx) -> Result<(), ArmError> {
    let leaf = w.spec.leaf();
    let p = w.props();
    default(p, "ttl", json!(3600));
    p.remove("fqdn");
    p.remove("isAutoRegistered");
    if leaf == "A" {
        for r in array(p, "aRecords") {
            let ip = r
                .get("ipv4Address")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if ip.parse::<std::net::Ipv4Addr>().is_err() {
                return Err(ArmError::bad_request(
                    "BadRequest",
                    format!("'{ip}' is not a valid IPv4 address."),
                ));
            }
        }
    }
    Ok(())
}

pub fn check_delete_dns_zone(st: &State, e: &Entry) -> Result<(), ArmError> {
    let links = st.children(&e.key, types::DNS_LINK);
    if let Some(l) = links.first() {
        return Err(ArmError::conflict(
            "Conflict",
            format!(
                "The private DNS zone '{}' cannot be deleted because it has virtual network links (for example '{}'). Delete all virtual network links first.",
                e.name, l.name
            ),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Azure Machine Learning

fn ml_validation(msg: impl Into<String>) -> ArmError {
    ArmError::bad_request("ValidationError", msg)
}

/// A linked resource id (a plain string property) that must exist with the given type.
fn check_linked(
    st: &State,
    p: &Map<String, Value>,
    field: &str,
    spec: &str,
    required: bool,
) -> Result<(), ArmError> {
    match p.get(field) {
        None | Some(Value::Null) => {
            if required {
                Err(ml_validation(format!(
                    "The workspace property '{field}' is required."
                )))
            } else {
                Ok(())
            }
        }
        Some(Value::String(s)) if s.is_empty() && !required => Ok(()),
        Some(Value::String(s)) => {
            if !s.to_ascii_lowercase().starts_with("/subscriptions/") {
                return Err(ArmError::bad_request(
                    "LinkedInvalidPropertyId",
                    format!(
                        "Property id '{s}' at path 'properties.{field}' is invalid. Expect fully qualified resource Id that start with '/subscriptions/{{subscriptionId}}' or '/providers/{{resourceProviderNamespace}}/'."
                    ),
                ));
            }
            if !st.get_by_id(s).is_some_and(|e| e.spec.is(spec)) {
                return Err(ml_validation(format!(
                    "The {field} '{s}' of the workspace could not be found."
                )));
            }
            Ok(())
        }
        Some(other) => Err(ml_validation(format!(
            "The workspace property '{field}' must be a resource id string, got {other}."
        ))),
    }
}

fn identity_fill(w: &mut WriteCtx) -> Result<(), ArmError> {
    let Some(Value::Object(id)) = w.body.get("identity").cloned() else {
        return Ok(());
    };
    let t = id
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("None")
        .to_string();
    let allowed = [
        "None",
        "SystemAssigned",
        "UserAssigned",
        "SystemAssigned,UserAssigned",
    ];
    let Some(canon) = allowed
        .iter()
        .find(|a| a.replace(' ', "").eq_ignore_ascii_case(&t.replace(' ', "")))
    else {
        return Err(ArmError::bad_request(
            "InvalidIdentityType",
            format!("The identity type '{t}' is not supported."),
        ));
    };
    if canon.contains("SystemAssigned") {
        guid_meta(&mut w.meta, "principalId");
    }
    obj(&mut w.body, "identity").insert("type".into(), json!(canon));
    Ok(())
}

pub fn put_workspace(st: &mut State, w: &mut WriteCtx) -> Result<(), ArmError> {
    identity_fill(w)?;
    let kind = w
        .body
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("Default")
        .to_string();
    default(&mut w.body, "kind", json!("Default"));
    default(
        &mut w.body,
        "sku",
        json!({"name": "Basic", "tier": "Basic"}),
    );
    let p = w.props_ref();
    let needs_deps = eq_ci(&kind, "Default") || eq_ci(&kind, "Hub");
    check_linked(st, &p, "storageAccount", types::STORAGE, needs_deps)?;
    check_linked(st, &p, "keyVault", types::VAULT, needs_deps)?;
    check_linked(st, &p, "applicationInsights", types::APP_INSIGHTS, false)?;
    check_linked(st, &p, "containerRegistry", types::REGISTRY, false)?;
    if let Some(old) = &w.existing {
        let op = props_of(old);
        for f in ["storageAccount", "keyVault"] {
            let before = op.get(f).and_then(Value::as_str).unwrap_or_default();
            let after = p.get(f).and_then(Value::as_str).unwrap_or_default();
            if !before.is_empty() && !eq_ci(before, after) {
                return Err(ml_validation(format!(
                    "Updating the {f} of a workspace is not supported (from '{before}' to '{after}')."
                )));
            }
        }
    }
    let name = w.name.clone();
    let pm = w.props();
    enum_value(
        pm,
        "publicNetworkAccess",
        &["Enabled", "Disabled"],
        Some("Enabled"),
        "ValidationError",
    )?;
    default(pm, "friendlyName", json!(name));
    default(pm, "v1LegacyMode", json!(false));
    default(pm, "hbiWorkspace", json!(false));
    default(pm, "allowPublicAccessWhenBehindVnet", json!(false));
    default(pm, "managedNetwork", json!({"isolationMode": "Disabled"}));
    if let Some(Value::Object(mn)) = pm.get_mut("managedNetwork") {
        enum_value(
            mn,
            "isolationMode",
            &[
                "Disabled",
                "AllowInternetOutbound",
                "AllowOnlyApprovedOutbound",
            ],
            Some("Disabled"),
            "ValidationError",
        )?;
    }
    guid_meta(&mut w.meta, "workspaceId");
    Ok(())
}

const COMPUTE_TYPES: &[&str] = &[
    "AKS",
    "Kubernetes",
    "AmlCompute",
    "ComputeInstance",
    "DataFactory",
    "VirtualMachine",
    "HDInsight",
    "Databricks",
    "DataLakeAnalytics",
    "SynapseSpark",
];

pub fn put_compute(st: &mut State, w: &mut WriteCtx) -> Result<(), ArmError> {
    identity_fill(w)?;
    let location = w.location.clone();
    let sub = w.sub.clone();
    let old_type = w
        .existing
        .as_ref()
        .and_then(|e| str_in(&props_of(e), "computeType").map(str::to_string));
    let p = w.props();
    if p.get("computeType").is_none_or(Value::is_null) {
        return Err(ml_validation("properties.computeType is required."));
    }
    enum_value(p, "computeType", COMPUTE_TYPES, None, "ValidationError")?;
    let ctype = p
        .get("computeType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if let Some(old) = old_type
        && !eq_ci(&old, &ctype)
    {
        return Err(ml_validation(format!(
            "The computeType of an existing compute cannot change from {old} to {ctype}."
        )));
    }
    default(p, "disableLocalAuth", json!(false));
    let inner = obj(p, "properties");
    if let Some(sid) = ref_id(inner, "subnet").map(str::to_string) {
        let Some(subnet) = st.get_by_id(&sid).filter(|s| s.spec.is(types::SUBNET)) else {
            return Err(ml_validation(format!(
                "The subnet '{sid}' of the compute could not be found."
            )));
        };
        if !eq_ci(&subnet.sub, &sub) {
            return Err(ml_validation(format!(
                "The virtual network of subnet '{sid}' must be in the workspace's subscription."
            )));
        }
        let vnet_loc = subnet
            .parent
            .as_deref()
            .and_then(|k| st.get(k))
            .map(|v| location_of(v, st))
            .unwrap_or_default();
        if !eq_ci(&vnet_loc, &location) {
            return Err(ml_validation(format!(
                "The compute location '{location}' and the virtual network location '{vnet_loc}' must be the same."
            )));
        }
        if !array(&props_of(subnet), "delegations").is_empty() {
            return Err(ml_validation(format!(
                "The subnet '{sid}' is delegated to another service and cannot host compute."
            )));
        }
    }
    if eq_ci(&ctype, "AmlCompute") {
        if get_map(inner, "scaleSettings.maxNodeCount")
            .and_then(Value::as_i64)
            .is_none()
        {
            return Err(ml_validation(
                "AmlCompute needs properties.properties.scaleSettings.maxNodeCount.",
            ));
        }
        default(inner, "osType", json!("Linux"));
        default(inner, "vmPriority", json!("Dedicated"));
        default(inner, "remoteLoginPortPublicAccess", json!("NotSpecified"));
        default(inner, "enableNodePublicIp", json!(true));
        default(inner, "isolatedNetwork", json!(false));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Storage

fn storage_name_valid(n: &str) -> bool {
    (3..=24).contains(&n.len())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

pub fn put_storage(st: &mut State, w: &mut WriteCtx) -> Result<(), ArmError> {
    if !storage_name_valid(&w.name) {
        return Err(ArmError::bad_request(
            "AccountNameInvalid",
            format!(
                "{} is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only.",
                w.name
            ),
        )
        .with_target(w.name.clone()));
    }
    if w.existing.is_none()
        && let Some(other) = st
            .of_type(types::STORAGE)
            .into_iter()
            .find(|e| eq_ci(&e.name, &w.name) && e.key != w.key)
    {
        if eq_ci(&other.sub, &w.sub) {
            return Err(ArmError::conflict(
                "StorageAccountInAnotherResourceGroup",
                format!(
                    "The account {} is already in another resource group in this subscription.",
                    w.name
                ),
            )
            .with_target(w.name.clone()));
        }
        return Err(ArmError::conflict(
            "StorageAccountAlreadyTaken",
            format!("The storage account named {} is already taken.", w.name),
        )
        .with_target(w.name.clone()));
    }
    identity_fill(w)?;
    default(&mut w.body, "kind", json!("StorageV2"));
    default(&mut w.body, "sku", json!({"name": "Standard_LRS"}));
    if let Some(Value::Object(sku)) = w.body.get_mut("sku")
        && let Some(n) = sku.get("name").and_then(Value::as_str).map(str::to_string)
    {
        let tier = if n.starts_with("Premium") {
            "Premium"
        } else {
            "Standard"
        };
        sku.insert("tier".into(), json!(tier));
    }
    let kind = w
        .body
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("StorageV2")
        .to_string();
    let p = w.props();
    default(p, "supportsHttpsTrafficOnly", json!(true));
    default(p, "allowBlobPublicAccess", json!(false));
    default(
        p,
        "encryption",
        json!({
            "services": {"blob": {"enabled": true, "keyType": "Account"}, "file": {"enabled": true, "keyType": "Account"}},
            "keySource": "Microsoft.Storage",
        }),
    );
    if eq_ci(&kind, "StorageV2") || eq_ci(&kind, "BlobStorage") {
        default(p, "accessTier", json!("Hot"));
    }
    let acls = obj(p, "networkAcls");
    default(acls, "bypass", json!("AzureServices"));
    enum_value(
        acls,
        "defaultAction",
        &["Allow", "Deny"],
        Some("Allow"),
        "InvalidValuesForRequestParameters",
    )?;
    default(acls, "ipRules", json!([]));
    let mut vnet_rules = Vec::new();
    for r in array(acls, "virtualNetworkRules") {
        let Some(sid) = r.get("id").and_then(Value::as_str) else {
            return Err(ArmError::bad_request(
                "InvalidValuesForRequestParameters",
                "A virtual network rule has no id.",
            ));
        };
        let Some(subnet) = st.get_by_id(sid).filter(|s| s.spec.is(types::SUBNET)) else {
            return Err(ArmError::bad_request(
                "NetworkAclsValidationFailure",
                format!(
                    "Validation of network acls failure: SubnetsNotFound:Subnet {sid} could not be found.."
                ),
            ));
        };
        let has_ep = array(&props_of(subnet), "serviceEndpoints")
            .iter()
            .any(|se| {
                se.get("service").and_then(Value::as_str).is_some_and(|s| {
                    eq_ci(s, "Microsoft.Storage") || eq_ci(s, "Microsoft.Storage.Global")
                })
            });
        if !has_ep {
            let vnet = subnet
                .parent
                .as_deref()
                .map(|k| path::last_name(k).to_string())
                .unwrap_or_default();
            return Err(ArmError::bad_request(
                "NetworkAclsValidationFailure",
                format!(
                    "Validation of network acls failure: SubnetsHaveNoServiceEndpointsConfigured:Subnets {} of virtual network {vnet} do not have ServiceEndpoints for Microsoft.Storage resources configured. Add Microsoft.Storage to subnet's ServiceEndpoints collection before trying to ACL Microsoft.Storage resources to these subnets..",
                    subnet.name
                ),
            ));
        }
        let action = r.get("action").and_then(Value::as_str).unwrap_or("Allow");
        vnet_rules.push(json!({"id": sid, "action": action, "state": "Succeeded"}));
    }
    acls.insert("virtualNetworkRules".into(), Value::Array(vnet_rules));
    if !w.meta.contains_key("creationTime") {
        w.meta.insert("creationTime".into(), json!(now_rfc3339()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Key Vault

fn vault_name_valid(n: &str) -> bool {
    let b = n.as_bytes();
    (3..=24).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && !n.contains("--")
}

pub fn put_vault(st: &mut State, w: &mut WriteCtx) -> Result<(), ArmError> {
    if !vault_name_valid(&w.name) {
        return Err(ArmError::bad_request(
            "VaultNameNotValid",
            format!(
                "The vault name '{}' is invalid. A vault's name must be between 3-24 alphanumeric characters. The name must begin with a letter, end with a letter or digit, and not contain consecutive hyphens.",
                w.name
            ),
        ));
    }
    let create_mode = str_in(&w.props_ref(), "createMode")
        .unwrap_or("default")
        .to_string();
    let lname = w.name.to_ascii_lowercase();
    if w.existing.is_none() {
        if st
            .of_type(types::VAULT)
            .into_iter()
            .any(|e| eq_ci(&e.name, &w.name) && e.key != w.key)
        {
            return Err(vault_taken(&w.name));
        }
        if let Some(d) = st.deleted_vaults.get(&lname).cloned() {
            if !eq_ci(&d.sub, &w.sub) {
                return Err(vault_taken(&w.name));
            }
            if eq_ci(&create_mode, "recover") {
                // Recover: the vault comes back with what it had.
                st.deleted_vaults.remove(&lname);
                let mut body = d.entry.body.clone();
                if let Some(tags) = w.body.get("tags") {
                    body.insert("tags".into(), tags.clone());
                }
                w.body = body;
                w.meta = d.entry.meta.clone();
                return Ok(());
            }
            return Err(ArmError::conflict(
                "ConflictError",
                format!(
                    "A vault with the same name already exists in deleted state. You need to either recover or purge existing key vault. (vault '{}', deleted on {})",
                    w.name, d.deletion_date
                ),
            ));
        }
    }
    let tenant = st.cfg.tenant_id.clone();
    let p = w.props();
    p.remove("createMode");
    default(p, "tenantId", json!(tenant));
    default(p, "sku", json!({"family": "A", "name": "standard"}));
    default(p, "accessPolicies", json!([]));
    default(p, "enableSoftDelete", json!(true));
    default(p, "softDeleteRetentionInDays", json!(90));
    default(p, "enableRbacAuthorization", json!(false));
    default(p, "enabledForDeployment", json!(false));
    default(p, "enabledForDiskEncryption", json!(false));
    default(p, "enabledForTemplateDeployment", json!(false));
    enum_value(
        p,
        "publicNetworkAccess",
        &["Enabled", "Disabled"],
        Some("Enabled"),
        "BadRequest",
    )?;
    if let Some(Value::Object(acls)) = p.get_mut("networkAcls") {
        enum_value(
            acls,
            "bypass",
            &["AzureServices", "None"],
            Some("AzureServices"),
            "BadRequest",
        )?;
        enum_value(
            acls,
            "defaultAction",
            &["Allow", "Deny"],
            Some("Allow"),
            "BadRequest",
        )?;
        default(acls, "ipRules", json!([]));
        default(acls, "virtualNetworkRules", json!([]));
    }
    Ok(())
}

fn vault_taken(name: &str) -> ArmError {
    ArmError::conflict(
        "VaultAlreadyExists",
        format!(
            "The vault name '{name}' is already in use. Vault names are globally unique so it is possible that the name is already taken. If you are sure that the vault name was not taken then it is possible that a vault with the same name was recently deleted but not purged after being placed in a recoverable state. If the vault is in a recoverable state then the vault will need to be purged before reusing the name. For more information about VaultAlreadyExists, soft delete and purging a vault follow this link https://go.microsoft.com/fwlink/?linkid=2147740."
        ),
    )
}

/// A deleted vault with soft delete on stays reserved until purged.
pub fn on_vault_removed(st: &mut State, e: Entry) {
    let soft = get_map(&e.body, "properties.enableSoftDelete")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    if !st.cfg.key_vault_soft_delete || !soft {
        return;
    }
    let location = location_of(&e, st);
    st.deleted_vaults.insert(
        e.name.to_ascii_lowercase(),
        DeletedVault {
            sub: e.sub.clone(),
            name: e.name.clone(),
            location,
            vault_id: e.id.clone(),
            deletion_date: now_rfc3339(),
            entry: e,
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Container Registry

pub fn put_registry(st: &mut State, w: &mut WriteCtx) -> Result<(), ArmError> {
    if w.existing.is_none()
        && st
            .of_type(types::REGISTRY)
            .into_iter()
            .any(|e| eq_ci(&e.name, &w.name) && e.key != w.key)
    {
        return Err(ArmError::conflict(
            "AlreadyInUse",
            format!(
                "The registry DNS name {}.azurecr.io is already in use. You can check if the name is already claimed using following API: https://docs.microsoft.com/en-us/rest/api/containerregistry/registries/checknameavailability",
                w.name.to_ascii_lowercase()
            ),
        ));
    }
    identity_fill(w)?;
    let sku = obj(&mut w.body, "sku");
    if sku.get("name").is_none_or(Value::is_null) {
        return Err(ArmError::bad_request(
            "InvalidSku",
            "The registry needs sku.name (Basic, Standard or Premium).",
        ));
    }
    enum_value(
        sku,
        "name",
        &["Basic", "Standard", "Premium"],
        None,
        "InvalidSku",
    )?;
    let sku_name = sku
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    sku.insert("tier".into(), json!(sku_name));
    let premium = sku_name == "Premium";
    let p = w.props();
    enum_value(
        p,
        "publicNetworkAccess",
        &["Enabled", "Disabled"],
        Some("Enabled"),
        "InvalidPublicNetworkAccess",
    )?;
    if !premium && p.get("publicNetworkAccess").and_then(Value::as_str) == Some("Disabled") {
        return Err(ArmError::bad_request(
            "DisablingPublicNetworkAccessNotSupported",
            format!(
                "Disabling public network access is not supported for the SKU {sku_name}. For more information, please visit https://aka.ms/acr/private-link."
            ),
        ));
    }
    match p.get("networkRuleSet") {
        Some(Value::Object(rs)) => {
            let restrictive = rs
                .get("defaultAction")
                .and_then(Value::as_str)
                .is_some_and(|a| eq_ci(a, "Deny"))
                || !array(rs, "ipRules").is_empty();
            if !premium && restrictive {
                return Err(ArmError::bad_request(
                    "NetworkRuleSetNotSupported",
                    format!(
                        "Network rule sets are only supported for registries in the Premium SKU; registry '{}' is {sku_name}.",
                        w.name
                    ),
                ));
            }
        }
        None | Some(Value::Null) => {}
        Some(_) => {
            return Err(ArmError::invalid_content(
                "networkRuleSet must be an object",
            ));
        }
    }
    if premium {
        let rs = obj(p, "networkRuleSet");
        enum_value(
            rs,
            "defaultAction",
            &["Allow", "Deny"],
            Some("Allow"),
            "InvalidNetworkRuleSet",
        )?;
        default(rs, "ipRules", json!([]));
    } else {
        p.remove("networkRuleSet");
    }
    default(p, "adminUserEnabled", json!(false));
    default(p, "networkRuleBypassOptions", json!("AzureServices"));
    default(p, "dataEndpointEnabled", json!(false));
    default(p, "zoneRedundancy", json!("Disabled"));
    default(p, "encryption", json!({"status": "disabled"}));
    default(
        p,
        "policies",
        json!({
            "quarantinePolicy": {"status": "disabled"},
            "trustPolicy": {"type": "Notary", "status": "disabled"},
            "retentionPolicy": {"days": 7, "status": "disabled"},
            "exportPolicy": {"status": "enabled"},
        }),
    );
    if !w.meta.contains_key("creationDate") {
        w.meta.insert("creationDate".into(), json!(now_rfc3339()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Application Insights

pub fn put_app_insights(_st: &mut State, w: &mut WriteCtx) -> Result<(), ArmError> {
    default(&mut w.body, "kind", json!("web"));
    let p = w.props();
    default(p, "Application_Type", json!("web"));
    default(p, "Flow_Type", json!("Bluefield"));
    default(p, "Request_Source", json!("rest"));
    default(p, "RetentionInDays", json!(90));
    default(p, "publicNetworkAccessForIngestion", json!("Enabled"));
    default(p, "publicNetworkAccessForQuery", json!("Enabled"));
    let mode = if p
        .get("WorkspaceResourceId")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
    {
        "LogAnalytics"
    } else {
        "ApplicationInsights"
    };
    p.insert("IngestionMode".into(), json!(mode));
    guid_meta(&mut w.meta, "appId");
    guid_meta(&mut w.meta, "instrumentationKey");
    if !w.meta.contains_key("creationDate") {
        w.meta.insert("creationDate".into(), json!(now_rfc3339()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Read-side decoration

fn props_mut(obj: &mut Map<String, Value>) -> &mut Map<String, Value> {
    super::json::obj(obj, "properties")
}

fn meta_str(e: &Entry, k: &str) -> String {
    e.meta
        .get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn identity_decorate(st: &State, e: &Entry, obj: &mut Map<String, Value>) {
    if let Some(pid) = e.meta.get("principalId").cloned()
        && let Some(Value::Object(id)) = obj.get_mut("identity")
        && id
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.contains("SystemAssigned"))
    {
        id.insert("principalId".into(), pid);
        id.insert("tenantId".into(), json!(st.cfg.tenant_id));
    }
}

pub fn decorate(st: &State, e: &Entry, obj: &mut Map<String, Value>) {
    let loc = location_of(e, st);
    match e.spec.canonical {
        types::DNS_ZONE => {
            let records = st
                .entries
                .values()
                .filter(|r| r.parent.as_deref() == Some(e.key.as_str()) && is_record_type(r.spec))
                .count();
            let links = st.children(&e.key, types::DNS_LINK);
            let with_reg = links
                .iter()
                .filter(|l| {
                    get_map(&l.body, "properties.registrationEnabled")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                })
                .count();
            let internal = meta_str(e, "internalId");
            let p = props_mut(obj);
            p.insert("maxNumberOfRecordSets".into(), json!(25000));
            p.insert("numberOfRecordSets".into(), json!(records));
            p.insert("maxNumberOfVirtualNetworkLinks".into(), json!(1000));
            p.insert("numberOfVirtualNetworkLinks".into(), json!(links.len()));
            p.insert(
                "maxNumberOfVirtualNetworkLinksWithRegistration".into(),
                json!(100),
            );
            p.insert(
                "numberOfVirtualNetworkLinksWithRegistration".into(),
                json!(with_reg),
            );
            p.insert("internalId".into(), json!(internal));
        }
        types::DNS_LINK => {
            let state = if matches!(e.prov, Prov::InFlight { .. }) {
                "InProgress"
            } else {
                "Completed"
            };
            props_mut(obj).insert("virtualNetworkLinkState".into(), json!(state));
        }
        types::WORKSPACE => {
            identity_decorate(st, e, obj);
            let conns = pe_connections(st, e);
            let wsid = meta_str(e, "workspaceId");
            let p = props_mut(obj);
            p.insert("workspaceId".into(), json!(wsid));
            p.insert(
                "discoveryUrl".into(),
                json!(format!("https://{loc}.api.azureml.ms/discovery")),
            );
            p.insert(
                "mlFlowTrackingUri".into(),
                json!(format!(
                    "azureml://{loc}.api.azureml.ms/mlflow/v1.0/subscriptions/{}/resourceGroups/{}/providers/Microsoft.MachineLearningServices/workspaces/{}",
                    e.sub, e.rg, e.name
                )),
            );
            p.insert("tenantId".into(), json!(st.cfg.tenant_id));
            p.insert("storageHnsEnabled".into(), json!(false));
            p.insert("privateLinkCount".into(), json!(conns.len()));
            p.insert("privateEndpointConnections".into(), Value::Array(conns));
        }
        types::COMPUTE => {
            identity_decorate(st, e, obj);
            let created = e.created_at.clone();
            let p = props_mut(obj);
            p.insert("createdOn".into(), json!(created));
            p.insert("modifiedOn".into(), json!(created));
            p.insert("isAttachedCompute".into(), json!(false));
            p.insert("computeLocation".into(), json!(loc));
            p.insert("provisioningErrors".into(), Value::Null);
            let is_aml = p.get("computeType").and_then(Value::as_str) == Some("AmlCompute");
            if is_aml {
                let inner = super::json::obj(p, "properties");
                let min = get_map(inner, "scaleSettings.minNodeCount")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                inner.insert("allocationState".into(), json!("Steady"));
                inner.insert("allocationStateTransitionTime".into(), json!(created));
                inner.insert("currentNodeCount".into(), json!(min));
                inner.insert("targetNodeCount".into(), json!(min));
                inner.insert(
                    "nodeStateCounts".into(),
                    json!({"idleNodeCount": min, "runningNodeCount": 0, "preparingNodeCount": 0, "unusableNodeCount": 0, "leavingNodeCount": 0, "preemptedNodeCount": 0}),
                );
                inner.insert("errors".into(), Value::Null);
            }
        }
        types::STORAGE => {
            identity_decorate(st, e, obj);
            let conns = pe_connections(st, e);
            let n = e.name.to_ascii_lowercase();
            let created = meta_str(e, "creationTime");
            let p = props_mut(obj);
            p.insert(
                "primaryEndpoints".into(),
                json!({
                    "blob": format!("https://{n}.blob.core.windows.net/"),
                    "queue": format!("https://{n}.queue.core.windows.net/"),
                    "table": format!("https://{n}.table.core.windows.net/"),
                    "file": format!("https://{n}.file.core.windows.net/"),
                    "web": format!("https://{n}.z13.web.core.windows.net/"),
                    "dfs": format!("https://{n}.dfs.core.windows.net/"),
                }),
            );
            p.insert("primaryLocation".into(), json!(loc));
            p.insert("statusOfPrimary".into(), json!("available"));
            p.insert("creationTime".into(), json!(created));
            p.insert("privateEndpointConnections".into(), Value::Array(conns));
        }
        types::VAULT => {
            let conns = pe_connections(st, e);
            let n = e.name.to_ascii_lowercase();
            let p = props_mut(obj);
            p.insert(
                "vaultUri".into(),
                json!(format!("https://{n}.vault.azure.net/")),
            );
            p.insert("privateEndpointConnections".into(), Value::Array(conns));
        }
        types::REGISTRY => {
            identity_decorate(st, e, obj);
            let conns = pe_connections(st, e);
            let n = e.name.to_ascii_lowercase();
            let created = meta_str(e, "creationDate");
            let p = props_mut(obj);
            let data = p
                .get("dataEndpointEnabled")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            p.insert("loginServer".into(), json!(format!("{n}.azurecr.io")));
            p.insert("creationDate".into(), json!(created));
            let hosts: Vec<String> = if data {
                vec![format!("{n}.{loc}.data.azurecr.io")]
            } else {
                Vec::new()
            };
            p.insert("dataEndpointHostNames".into(), json!(hosts));
            p.insert("privateEndpointConnections".into(), Value::Array(conns));
        }
        types::APP_INSIGHTS => {
            let ikey = meta_str(e, "instrumentationKey");
            let app_id = meta_str(e, "appId");
            let created = meta_str(e, "creationDate");
            let name = e.name.clone();
            let p = props_mut(obj);
            p.insert("AppId".into(), json!(app_id));
            p.insert("ApplicationId".into(), json!(name));
            p.insert("Name".into(), json!(name));
            p.insert("InstrumentationKey".into(), json!(ikey));
            p.insert(
                "ConnectionString".into(),
                json!(format!(
                    "InstrumentationKey={ikey};IngestionEndpoint=https://{loc}-0.in.applicationinsights.azure.com/;LiveEndpoint=https://{loc}.livediagnostics.monitor.azure.com/;ApplicationId={app_id}"
                )),
            );
            p.insert("CreationDate".into(), json!(created));
            p.insert("TenantId".into(), json!(e.sub));
            p.insert("Ver".into(), json!("v2"));
        }
        _ if is_record_type(e.spec) => {
            let zone = e
                .parent
                .as_deref()
                .and_then(|k| st.get(k))
                .map(|z| z.name.to_ascii_lowercase())
                .unwrap_or_default();
            let fqdn = if e.name == "@" {
                format!("{zone}.")
            } else {
                format!("{}.{zone}.", e.name)
            };
            let p = props_mut(obj);
            p.remove("provisioningState");
            p.insert("fqdn".into(), json!(fqdn));
            default(p, "isAutoRegistered", json!(false));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(storage_name_valid("sa1"));
        assert!(!storage_name_valid("SA1"));
        assert!(!storage_name_valid("ab"));
        assert!(vault_name_valid("kv-1"));
        assert!(!vault_name_valid("1kv"));
        assert!(!vault_name_valid("kv--1"));
        assert!(!vault_name_valid("kv-"));
    }

    #[test]
    fn overlap() {
        assert!(namespaces_overlap(
            "privatelink.blob.core.windows.net",
            "blob.core.windows.net"
        ));
        assert!(!namespaces_overlap(
            "privatelink.api.azureml.ms",
            "privatelink.notebooks.azure.net"
        ));
    }
}
