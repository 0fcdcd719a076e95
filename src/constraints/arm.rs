//! Just enough ARM-id handling for the catalog: subscription, type and parent of an id, and
//! ASCII-case-insensitive comparison (ARM ids are case-insensitive).

/// The subscription id of an ARM id (`/subscriptions/{sub}/...`).
pub fn subscription(id: &str) -> Option<&str> {
    let mut it = id.trim_start_matches('/').split('/');
    match (it.next(), it.next()) {
        (Some(s), Some(sub)) if s.eq_ignore_ascii_case("subscriptions") && !sub.is_empty() => Some(sub),
        _ => None,
    }
}

/// The resource group of an ARM id (`/subscriptions/{sub}/resourceGroups/{rg}/...`).
pub fn resource_group(id: &str) -> Option<&str> {
    let mut it = id.trim_start_matches('/').split('/');
    while let Some(seg) = it.next() {
        if seg.eq_ignore_ascii_case("resourceGroups") {
            return it.next().filter(|rg| !rg.is_empty());
        }
    }
    None
}

/// The last segment (the resource's own name).
pub fn name(id: &str) -> &str {
    id.trim_end_matches('/').rsplit('/').next().unwrap_or("")
}

/// `true` when the two ids name the same resource.
pub fn same(a: &str, b: &str) -> bool {
    a.trim_end_matches('/').eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// The VNet id of a subnet id (`.../virtualNetworks/{vnet}/subnets/{subnet}`), if it is one.
pub fn vnet_of_subnet(id: &str) -> Option<&str> {
    let t = id.trim_end_matches('/');
    let lower = t.to_ascii_lowercase();
    let pos = lower.rfind("/subnets/")?;
    let vnet = &t[..pos];
    vnet.to_ascii_lowercase().contains("/providers/microsoft.network/virtualnetworks/").then_some(vnet)
}

/// The id of a VNet from its parts.
pub fn vnet_id(subscription: &str, resource_group: &str, name: &str) -> String {
    format!("/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Network/virtualNetworks/{name}")
}

/// The id of a resource moat creates in the workspace's resource group.
pub fn resource_id(subscription: &str, resource_group: &str, provider_type: &str, name: &str) -> String {
    format!("/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{provider_type}/{name}")
}

/// Whether the id is of the given `Namespace/type` (the last type segment).
pub fn is_type(id: &str, provider_type: &str) -> bool {
    let lower = id.trim_end_matches('/').to_ascii_lowercase();
    let needle = format!("/providers/{}/", provider_type.to_ascii_lowercase());
    match lower.rfind(&needle) {
        Some(pos) => !lower[pos + needle.len()..].contains('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts() {
        let s = "/subscriptions/abc/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s";
        assert_eq!(subscription(s), Some("abc"));
        assert_eq!(name(s), "s");
        assert_eq!(vnet_of_subnet(s), Some("/subscriptions/abc/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v"));
        assert!(same(vnet_of_subnet(s).unwrap(), &vnet_id("ABC", "RG", "V")));
        assert!(is_type("/subscriptions/a/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/x", "Microsoft.Storage/storageAccounts"));
        assert!(!is_type(s, "Microsoft.Network/virtualNetworks"));
        assert_eq!(subscription("nonsense"), None);
    }
}
