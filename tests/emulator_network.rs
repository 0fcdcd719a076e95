//! Microsoft.Network rules as ARM answers them: subnets inline and as children, address-space
//! rules, references, in-use rules, NSG rules and defaults, routes, private endpoints (IPs,
//! NIC, DNS configs, connection states, refusals), zone groups writing A records, DNS links.

mod emulator_support;

use std::net::Ipv4Addr;

use emulator_support::*;
use moat::emulator::EmulatorConfig;
use serde_json::{Value, json};

fn vnet_body(subnets: Value) -> Value {
    json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.10.0.0/16"]}, "subnets": subnets}})
}

fn subnet_body(prefix: &str) -> Value {
    json!({"properties": {"addressPrefix": prefix}})
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn in_subnet(ip: &str, net: &str) -> bool {
    let ip: Ipv4Addr = ip.parse().unwrap();
    let net: ipnet::Ipv4Net = net.parse().unwrap();
    net.contains(&ip) && u32::from(ip) >= u32::from(net.network()) + 4 && ip != net.broadcast()
}

#[tokio::test]
async fn subnets_are_inline_and_children() {
    let arm = Arm::new(1).await;
    let v = arm
        .vnet("vnet", &[("a", "10.10.1.0/24"), ("b", "10.10.2.0/24")])
        .await;
    assert_eq!(names(&v["properties"]["subnets"]), vec!["a", "b"]);
    let s0 = &v["properties"]["subnets"][0];
    assert_eq!(s0["id"], json!(arm.subnet_id("vnet", "a")));
    assert_eq!(s0["type"], "Microsoft.Network/virtualNetworks/subnets");
    assert!(s0["etag"].as_str().unwrap().starts_with("W/"));
    assert_eq!(
        s0["properties"]["privateEndpointNetworkPolicies"], "Disabled",
        "documented default"
    );
    assert_eq!(
        s0["properties"]["privateLinkServiceNetworkPolicies"],
        "Enabled"
    );
    let child = arm.get(&arm.subnet_id("vnet", "b"), NET).await;
    child.expect(200);
    assert_eq!(child.str("/properties/addressPrefix"), "10.10.2.0/24");
    // A child PUT shows up inline.
    arm.put_ok(
        &arm.subnet_id("vnet", "c"),
        NET,
        subnet_body("10.10.3.0/24"),
    )
    .await;
    let v = arm.get(&arm.vnet_id("vnet"), NET).await;
    assert_eq!(names(&v.body["properties"]["subnets"]), vec!["a", "b", "c"]);
    // A VNet PUT that omits an unused subnet removes it (full replace).
    arm.put_ok(
        &arm.vnet_id("vnet"),
        NET,
        vnet_body(json!([{"name": "a", "properties": {"addressPrefix": "10.10.1.0/24"}}, {"name": "c", "properties": {"addressPrefix": "10.10.3.0/24"}}])),
    )
    .await;
    arm.get(&arm.subnet_id("vnet", "b"), NET)
        .await
        .expect_err(404, "NotFound");
    let list = arm
        .get(&format!("{}/subnets", arm.vnet_id("vnet")), NET)
        .await;
    assert_eq!(names(&list.body["value"]), vec!["a", "c"]);
    // Child delete: 202 then gone.
    let d = arm.delete_ok(&arm.subnet_id("vnet", "c"), NET).await;
    assert_eq!(d.str("/status"), "Succeeded");
    assert_eq!(
        names(&arm.get(&arm.vnet_id("vnet"), NET).await.body["properties"]["subnets"]),
        vec!["a"]
    );
    // Parent must exist.
    arm.put(&arm.subnet_id("nope", "x"), NET, subnet_body("10.0.0.0/24"))
        .await
        .expect_err(404, "ParentResourceNotFound");
}

#[tokio::test]
async fn subnet_address_rules() {
    let arm = Arm::new(0).await;
    arm.vnet("vnet", &[("a", "10.10.1.0/24")]).await;
    let s = arm.subnet_id("vnet", "x");
    arm.put(&s, NET, subnet_body("10.20.0.0/24"))
        .await
        .expect_err(400, "NetcfgSubnetRangeOutsideVnet");
    arm.put(&s, NET, subnet_body("10.10.1.128/25"))
        .await
        .expect_err(400, "NetcfgSubnetRangesOverlap");
    arm.put(&s, NET, subnet_body("10.10.0.0/16"))
        .await
        .expect_err(400, "NetcfgSubnetRangesOverlap");
    arm.put(&s, NET, subnet_body("10.10.2.1/24"))
        .await
        .expect_err(400, "InvalidCIDRNotation");
    arm.put(&s, NET, subnet_body("10.10.2.0/33"))
        .await
        .expect_err(400, "InvalidAddressPrefixFormat");
    arm.put(&s, NET, subnet_body("banana"))
        .await
        .expect_err(400, "InvalidAddressPrefixFormat");
    arm.put(&s, NET, json!({"properties": {}}))
        .await
        .expect_err(400, "NetcfgInvalidSubnet");
    arm.put(&s, NET, json!({"properties": {"addressPrefix": "10.10.2.0/24", "privateEndpointNetworkPolicies": "Sometimes"}}))
        .await
        .expect_err(400, "InvalidRequestFormat");
    // Inline subnets: the same rules, including overlap between two new ones.
    arm.put(&arm.vnet_id("w"), NET, vnet_body(json!([{"name": "p", "properties": {"addressPrefix": "10.10.1.0/24"}}, {"name": "q", "properties": {"addressPrefix": "10.10.1.0/25"}}])))
        .await
        .expect_err(400, "NetcfgSubnetRangesOverlap");
    arm.put(
        &arm.vnet_id("w"),
        NET,
        vnet_body(json!([{"name": "p", "properties": {"addressPrefix": "192.168.0.0/24"}}])),
    )
    .await
    .expect_err(400, "NetcfgSubnetRangeOutsideVnet");
    arm.get(&arm.vnet_id("w"), NET)
        .await
        .expect_err(404, "ResourceNotFound");
    // addressPrefixes (plural) works too.
    let ok = arm
        .put(
            &s,
            NET,
            json!({"properties": {"addressPrefixes": ["10.10.2.0/24"]}}),
        )
        .await;
    ok.expect(201);
    // Delegations and service endpoints are filled in.
    let d = arm
        .put_ok(
            &arm.subnet_id("vnet", "del"),
            NET,
            json!({"properties": {"addressPrefix": "10.10.3.0/24",
                "delegations": [{"name": "aci", "properties": {"serviceName": "Microsoft.ContainerInstance/containerGroups"}}],
                "serviceEndpoints": [{"service": "Microsoft.Storage"}]}}),
        )
        .await;
    assert_eq!(
        d["properties"]["delegations"][0]["properties"]["provisioningState"],
        "Succeeded"
    );
    assert!(
        d["properties"]["delegations"][0]["properties"]["actions"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    assert_eq!(
        d["properties"]["serviceEndpoints"][0]["locations"],
        json!(["eastus"])
    );
}

#[tokio::test]
async fn subnet_references_and_back_references() {
    let arm = Arm::new(0).await;
    arm.vnet("vnet", &[]).await;
    let nsg = arm.rid("Microsoft.Network/networkSecurityGroups/nsg");
    let rt = arm.rid("Microsoft.Network/routeTables/rt");
    let s = arm.subnet_id("vnet", "compute");
    let body = json!({"properties": {"addressPrefix": "10.10.2.0/24", "networkSecurityGroup": {"id": nsg}, "routeTable": {"id": rt}}});
    let e = arm.put(&s, NET, body.clone()).await;
    e.expect_err(400, "InvalidResourceReference");
    assert!(e.message().contains(&nsg), "{}", e.message());
    arm.put_ok(&nsg, NET, json!({"location": "eastus"})).await;
    arm.put(&s, NET, body.clone())
        .await
        .expect_err(400, "InvalidResourceReference");
    arm.put_ok(&rt, NET, json!({"location": "eastus"})).await;
    // Different region: refused the same way.
    let nsg_w = arm.rid("Microsoft.Network/networkSecurityGroups/nsg-west");
    arm.put_ok(&nsg_w, NET, json!({"location": "westus"})).await;
    arm.put(&s, NET, json!({"properties": {"addressPrefix": "10.10.2.0/24", "networkSecurityGroup": {"id": nsg_w}}}))
        .await
        .expect_err(400, "InvalidResourceReference");
    arm.put_ok(&s, NET, body).await;
    let n = arm.get(&nsg, NET).await;
    assert_eq!(n.body["properties"]["subnets"], json!([{"id": s}]));
    assert_eq!(
        arm.get(&rt, NET).await.body["properties"]["subnets"],
        json!([{"id": s}])
    );
    arm.delete(&nsg, NET)
        .await
        .expect_err(400, "InUseNetworkSecurityGroupCannotBeDeleted");
    arm.delete(&rt, NET)
        .await
        .expect_err(400, "InUseRouteTableCannotBeDeleted");
    arm.put_ok(&s, NET, subnet_body("10.10.2.0/24")).await;
    assert!(
        arm.get(&nsg, NET).await.body["properties"]
            .get("subnets")
            .is_none()
    );
    arm.delete_ok(&nsg, NET).await;
    arm.delete_ok(&rt, NET).await;
}

#[tokio::test]
async fn nsg_rules_inline_children_and_defaults() {
    let arm = Arm::new(0).await;
    let nsg = arm.rid("Microsoft.Network/networkSecurityGroups/nsg");
    let rule = |prio: i64, dir: &str| json!({"priority": prio, "direction": dir, "access": "Allow", "protocol": "Tcp", "sourceAddressPrefix": "AzureMachineLearning", "sourcePortRange": "*", "destinationAddressPrefix": "VirtualNetwork", "destinationPortRange": "44224"});
    let n = arm
        .put_ok(&nsg, NET, json!({"location": "eastus", "properties": {"securityRules": [{"name": "in1", "properties": rule(100, "Inbound")}, {"name": "out1", "properties": rule(100, "Outbound")}]}}))
        .await;
    assert_eq!(
        names(&n["properties"]["securityRules"]),
        vec!["in1", "out1"]
    );
    let defaults = names(&n["properties"]["defaultSecurityRules"]);
    assert_eq!(
        defaults,
        vec![
            "AllowVnetInBound",
            "AllowAzureLoadBalancerInBound",
            "DenyAllInBound",
            "AllowVnetOutBound",
            "AllowInternetOutBound",
            "DenyAllOutBound"
        ]
    );
    assert_eq!(
        n["properties"]["defaultSecurityRules"][2]["properties"]["priority"],
        json!(65500)
    );
    let dr = arm
        .get(&format!("{nsg}/defaultSecurityRules/DenyAllOutBound"), NET)
        .await;
    dr.expect(200);
    assert_eq!(dr.str("/properties/access"), "Deny");
    assert_eq!(
        arm.get(&format!("{nsg}/defaultSecurityRules"), NET)
            .await
            .body["value"]
            .as_array()
            .map(Vec::len),
        Some(6)
    );
    // Child rule rules.
    let r = format!("{nsg}/securityRules/r2");
    arm.put(&r, NET, json!({"properties": rule(100, "Inbound")}))
        .await
        .expect_err(400, "SecurityRuleConflict");
    arm.put(&r, NET, json!({"properties": rule(50, "Inbound")}))
        .await
        .expect_err(400, "SecurityRuleInvalidPriority");
    arm.put(&r, NET, json!({"properties": rule(5000, "Inbound")}))
        .await
        .expect_err(400, "SecurityRuleInvalidPriority");
    arm.put(
        &r,
        NET,
        json!({"properties": {"priority": 200, "direction": "Inbound", "access": "Allow"}}),
    )
    .await
    .expect_err(400, "InvalidRequestFormat");
    let c = arm
        .put_ok(&r, NET, json!({"properties": rule(110, "inbound")}))
        .await;
    assert_eq!(
        c["properties"]["direction"], "Inbound",
        "enum casing is normalised"
    );
    assert_eq!(c["properties"]["destinationPortRanges"], json!([]));
    // Updating a rule with its own priority is not a conflict.
    arm.put_ok(&r, NET, json!({"properties": rule(110, "Inbound")}))
        .await;
    let list = arm.get(&format!("{nsg}/securityRules"), NET).await;
    assert_eq!(names(&list.body["value"]), vec!["in1", "out1", "r2"]);
    // Inline conflict.
    arm.put(&nsg, NET, json!({"location": "eastus", "properties": {"securityRules": [{"name": "a", "properties": rule(300, "Inbound")}, {"name": "b", "properties": rule(300, "Inbound")}]}}))
        .await
        .expect_err(400, "SecurityRuleConflict");
    // An NSG PUT replaces the rules.
    let n = arm.put_ok(&nsg, NET, json!({"location": "eastus", "properties": {"securityRules": [{"name": "out1", "properties": rule(100, "Outbound")}]}})).await;
    assert_eq!(names(&n["properties"]["securityRules"]), vec!["out1"]);
    arm.get(&r, NET).await.expect_err(404, "NotFound");
    // Tags-only PATCH keeps rules.
    let p = arm.patch(&nsg, NET, json!({"tags": {"k": "v"}})).await;
    p.expect(200);
    assert_eq!(p.body["tags"], json!({"k": "v"}));
    assert_eq!(names(&p.body["properties"]["securityRules"]), vec!["out1"]);
}

#[tokio::test]
async fn route_tables_and_routes() {
    let arm = Arm::new(0).await;
    let rt = arm.rid("Microsoft.Network/routeTables/rt");
    let t = arm
        .put_ok(&rt, NET, json!({"location": "eastus", "properties": {"routes": [
            {"name": "AzureMLToInternet", "properties": {"addressPrefix": "AzureMachineLearning", "nextHopType": "Internet"}},
            {"name": "Default", "properties": {"addressPrefix": "0.0.0.0/0", "nextHopType": "VirtualAppliance", "nextHopIpAddress": "10.0.0.4"}}
        ]}}))
        .await;
    assert_eq!(
        names(&t["properties"]["routes"]),
        vec!["AzureMLToInternet", "Default"]
    );
    assert_eq!(t["properties"]["disableBgpRoutePropagation"], json!(false));
    assert_eq!(
        t["properties"]["routes"][0]["properties"]["hasBgpOverride"],
        json!(false)
    );
    let r = format!("{rt}/routes/r3");
    arm.put(
        &r,
        NET,
        json!({"properties": {"addressPrefix": "0.0.0.0/0", "nextHopType": "VirtualAppliance"}}),
    )
    .await
    .expect_err(400, "InvalidRequestFormat");
    arm.put(&r, NET, json!({"properties": {"addressPrefix": "0.0.0.0/0", "nextHopType": "Internet", "nextHopIpAddress": "10.0.0.4"}})).await.expect_err(400, "InvalidRequestFormat");
    arm.put(
        &r,
        NET,
        json!({"properties": {"addressPrefix": "0.0.0.0/0", "nextHopType": "Teleport"}}),
    )
    .await
    .expect_err(400, "InvalidRequestFormat");
    arm.put(
        &r,
        NET,
        json!({"properties": {"addressPrefix": "10.1.0.1/16", "nextHopType": "None"}}),
    )
    .await
    .expect_err(400, "InvalidCIDRNotation");
    arm.put_ok(&r, NET, json!({"properties": {"addressPrefix": "BatchNodeManagement.eastus", "nextHopType": "Internet"}})).await;
    assert_eq!(
        names(&arm.get(&rt, NET).await.body["properties"]["routes"]),
        vec!["AzureMLToInternet", "Default", "r3"]
    );
}

#[tokio::test]
async fn private_endpoint_fills_and_in_use_subnet() {
    let arm = Arm::new(1).await;
    arm.vnet("vnet", &[("pe", "10.10.1.0/24"), ("other", "10.10.2.0/24")])
        .await;
    arm.storage("sa1").await;
    let pe = arm.pe_id("pe-blob");
    let sid = arm.subnet_id("vnet", "pe");
    let r = arm
        .put(&pe, NET, arm.pe_body(&sid, &arm.storage_id("sa1"), "blob"))
        .await;
    r.expect(201);
    assert_eq!(r.prov(), "Updating");
    arm.wait(&r).await;
    let p = arm.get(&pe, NET).await;
    assert_eq!(p.prov(), "Succeeded");
    let conn = &p.body["properties"]["privateLinkServiceConnections"][0];
    assert_eq!(
        conn["properties"]["privateLinkServiceConnectionState"]["status"],
        "Approved"
    );
    assert_eq!(conn["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        conn["id"],
        json!(format!("{pe}/privateLinkServiceConnections/conn"))
    );
    let dns = &p.body["properties"]["customDnsConfigs"];
    assert_eq!(dns[0]["fqdn"], "sa1.blob.core.windows.net");
    let ip = dns[0]["ipAddresses"][0].as_str().unwrap().to_string();
    assert!(in_subnet(&ip, "10.10.1.0/24"), "{ip}");
    assert_eq!(
        ip, "10.10.1.4",
        "first address after the four reserved ones"
    );
    let nic_id = p.str("/properties/networkInterfaces/0/id").to_string();
    assert!(
        nic_id.contains("/providers/Microsoft.Network/networkInterfaces/pe-blob.nic."),
        "{nic_id}"
    );
    let nic = arm.get(&nic_id, NET).await;
    nic.expect(200);
    assert_eq!(
        nic.str("/properties/ipConfigurations/0/properties/privateIPAddress"),
        ip
    );
    assert_eq!(
        nic.body["properties"]["ipConfigurations"][0]["properties"]["privateLinkConnectionProperties"]
            ["fqdns"],
        json!(["sa1.blob.core.windows.net"])
    );
    arm.delete(&nic_id, NET)
        .await
        .expect_err(400, "OperationNotAllowed");
    // The subnet shows what uses it; the storage account shows the connection.
    let s = arm.get(&sid, NET).await;
    assert_eq!(
        s.body["properties"]["privateEndpoints"],
        json!([{"id": pe}])
    );
    assert!(
        s.str("/properties/ipConfigurations/0/id")
            .starts_with(&nic_id)
    );
    let sa = arm.get(&arm.storage_id("sa1"), ST).await;
    assert_eq!(
        sa.str("/properties/privateEndpointConnections/0/properties/privateEndpoint/id"),
        pe
    );
    // In use: no delete, no omission from a VNet PUT, no VNet delete, no prefix change.
    let e = arm.delete(&sid, NET).await;
    e.expect_err(400, "InUseSubnetCannotBeDeleted");
    assert!(
        e.message().starts_with("Subnet pe is in use by"),
        "{}",
        e.message()
    );
    arm.put(
        &arm.vnet_id("vnet"),
        NET,
        vnet_body(json!([{"name": "other", "properties": {"addressPrefix": "10.10.2.0/24"}}])),
    )
    .await
    .expect_err(400, "InUseSubnetCannotBeDeleted");
    arm.delete(&arm.vnet_id("vnet"), NET)
        .await
        .expect_err(400, "InUseSubnetCannotBeDeleted");
    arm.put(&sid, NET, subnet_body("10.10.1.0/25"))
        .await
        .expect_err(400, "InUseSubnetCannotBeUpdated");
    // Re-PUT of the endpoint keeps its address.
    arm.put_ok(&pe, NET, arm.pe_body(&sid, &arm.storage_id("sa1"), "blob"))
        .await;
    assert_eq!(
        arm.get(&pe, NET)
            .await
            .str("/properties/customDnsConfigs/0/ipAddresses/0"),
        ip
    );
    // A second endpoint gets the next address.
    let pe2 = arm.pe_id("pe-file");
    let p2 = arm
        .put_ok(&pe2, NET, arm.pe_body(&sid, &arm.storage_id("sa1"), "file"))
        .await;
    assert_eq!(
        p2["properties"]["customDnsConfigs"][0]["ipAddresses"][0],
        "10.10.1.5"
    );
    assert_eq!(
        p2["properties"]["customDnsConfigs"][0]["fqdn"],
        "sa1.file.core.windows.net"
    );
    // Deleting frees the address and the subnet.
    arm.delete_ok(&pe, NET).await;
    arm.get(&nic_id, NET)
        .await
        .expect_err(404, "ResourceNotFound");
    arm.delete_ok(&pe2, NET).await;
    assert!(
        arm.get(&sid, NET).await.body["properties"]
            .get("privateEndpoints")
            .is_none()
    );
    let pe3 = arm
        .put_ok(
            &arm.pe_id("pe3"),
            NET,
            arm.pe_body(&sid, &arm.storage_id("sa1"), "blob"),
        )
        .await;
    assert_eq!(
        pe3["properties"]["customDnsConfigs"][0]["ipAddresses"][0],
        "10.10.1.4"
    );
    arm.delete_ok(&arm.pe_id("pe3"), NET).await;
    arm.delete_ok(&sid, NET).await;
    arm.delete_ok(&arm.vnet_id("vnet"), NET).await;
}

#[tokio::test]
async fn private_endpoint_refusals() {
    let arm = Arm::new(0).await;
    arm.vnet("vnet", &[("pe", "10.10.1.0/24"), ("tiny", "10.10.9.0/29")])
        .await;
    arm.put_ok(
        &arm.subnet_id("vnet", "delegated"),
        NET,
        json!({"properties": {"addressPrefix": "10.10.3.0/24", "delegations": [{"name": "d", "properties": {"serviceName": "Microsoft.ContainerInstance/containerGroups"}}]}}),
    )
    .await;
    arm.put_ok(&arm.subnet_id("vnet", "policies"), NET, json!({"properties": {"addressPrefix": "10.10.4.0/24", "privateEndpointNetworkPolicies": "Enabled"}}))
        .await;
    arm.storage("sa1").await;
    arm.registry("acrstd", "Standard").await;
    let sid = arm.subnet_id("vnet", "pe");
    let pe = arm.pe_id("pe");
    let sa = arm.storage_id("sa1");

    let e = arm
        .put(
            &pe,
            NET,
            arm.pe_body(&arm.subnet_id("vnet", "missing"), &sa, "blob"),
        )
        .await;
    e.expect_err(400, "InvalidResourceReference");
    let e = arm
        .put(
            &pe,
            NET,
            arm.pe_body(&sid, &arm.storage_id("nosuch"), "blob"),
        )
        .await;
    e.expect_err(400, "PrivateEndpointBadRequest");
    assert!(
        e.message()
            .starts_with("Call to Microsoft.Storage/storageAccounts failed."),
        "{}",
        e.message()
    );
    arm.put(&pe, NET, arm.pe_body(&sid, &sa, "vault"))
        .await
        .expect_err(400, "PrivateEndpointBadRequest");
    arm.put(
        &pe,
        NET,
        json!({"location": "eastus", "properties": {"subnet": {"id": sid}, "privateLinkServiceConnections": [{"name": "c", "properties": {"privateLinkServiceId": sa, "groupIds": ["blob", "file"]}}]}}),
    )
    .await
    .expect_err(400, "OnlyOneGroupIdPermitted");
    arm.put(
        &pe,
        NET,
        json!({"location": "eastus", "properties": {"subnet": {"id": sid}, "privateLinkServiceConnections": [{"name": "c", "properties": {"privateLinkServiceId": sa}}]}}),
    )
    .await
    .expect_err(400, "MissingParameterOnPrivateLinkServiceConnection");
    let acr = arm
        .put(
            &pe,
            NET,
            arm.pe_body(&sid, &arm.registry_id("acrstd"), "registry"),
        )
        .await;
    acr.expect_err(400, "PrivateEndpointBadRequest");
    assert!(acr.message().contains("Premium"), "{}", acr.message());
    arm.put(
        &pe,
        NET,
        arm.pe_body(&arm.subnet_id("vnet", "delegated"), &sa, "blob"),
    )
    .await
    .expect_err(400, "PrivateEndpointCreationNotAllowedAsSubnetIsDelegated");
    let mut west = arm.pe_body(&sid, &sa, "blob");
    west["location"] = json!("westus");
    arm.put(&pe, NET, west)
        .await
        .expect_err(400, "InvalidResourceReference");
    // Policies Enabled: accepted today; refused in strict (historical) mode.
    let ok = arm
        .put(
            &arm.pe_id("pe-pol"),
            NET,
            arm.pe_body(&arm.subnet_id("vnet", "policies"), &sa, "blob"),
        )
        .await;
    ok.expect(201);
    arm.put(&pe, NET, arm.pe_body(&sid, &sa, "blob"))
        .await
        .expect(201);
    // A /29 has 3 usable addresses: a Premium registry endpoint takes 2, a second one does not fit.
    arm.registry("acrprem", "Premium").await;
    let tiny = arm.subnet_id("vnet", "tiny");
    let r1 = arm
        .put_ok(
            &arm.pe_id("acr1"),
            NET,
            arm.pe_body(&tiny, &arm.registry_id("acrprem"), "registry"),
        )
        .await;
    let fq: Vec<&str> = r1["properties"]["customDnsConfigs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["fqdn"].as_str().unwrap())
        .collect();
    assert_eq!(
        fq,
        vec!["acrprem.azurecr.io", "acrprem.eastus.data.azurecr.io"]
    );
    arm.put(
        &arm.pe_id("acr2"),
        NET,
        arm.pe_body(&tiny, &arm.registry_id("acrprem"), "registry"),
    )
    .await
    .expect_err(400, "SubnetIsFull");
    // Static addresses.
    let stat = json!({"location": "eastus", "properties": {"subnet": {"id": sid},
        "privateLinkServiceConnections": [{"name": "c", "properties": {"privateLinkServiceId": sa, "groupIds": ["queue"]}}],
        "ipConfigurations": [{"name": "ipc", "properties": {"groupId": "queue", "memberName": "queue", "privateIPAddress": "10.10.1.50"}}]}});
    let s = arm.put_ok(&arm.pe_id("static"), NET, stat.clone()).await;
    assert_eq!(
        s["properties"]["customDnsConfigs"][0]["ipAddresses"][0],
        "10.10.1.50"
    );
    let mut clash = stat.clone();
    clash["properties"]["privateLinkServiceConnections"][0]["properties"]["groupIds"] =
        json!(["table"]);
    clash["properties"]["ipConfigurations"][0]["properties"]["memberName"] = json!("table");
    arm.put(&arm.pe_id("static2"), NET, clash.clone())
        .await
        .expect_err(400, "PrivateIPAddressInUse");
    clash["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"] =
        json!("10.10.2.9");
    arm.put(&arm.pe_id("static2"), NET, clash.clone())
        .await
        .expect_err(400, "PrivateIPAddressNotInSubnet");
    clash["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"] =
        json!("10.10.1.2");
    arm.put(&arm.pe_id("static2"), NET, clash)
        .await
        .expect_err(400, "PrivateIPAddressIsReserved");

    let strict = Arm::with(EmulatorConfig {
        polls_to_complete: 0,
        strict_pe_network_policies: true,
        ..Default::default()
    })
    .await;
    strict
        .put_ok(
            &strict.vnet_id("vnet"),
            NET,
            vnet_body(json!([{"name": "policies", "properties": {"addressPrefix": "10.10.4.0/24", "privateEndpointNetworkPolicies": "Enabled"}}])),
        )
        .await;
    strict.storage("sa2").await;
    strict
        .put(
            &strict.pe_id("pe"),
            NET,
            strict.pe_body(
                &strict.subnet_id("vnet", "policies"),
                &strict.storage_id("sa2"),
                "blob",
            ),
        )
        .await
        .expect_err(
            400,
            "PrivateEndpointCannotBeCreatedInSubnetThatHasNetworkPoliciesEnabled",
        );
}

#[tokio::test]
async fn manual_connections_are_pending_and_state_survives_puts() {
    let arm = Arm::new(0).await;
    arm.vnet("vnet", &[("pe", "10.10.1.0/24")]).await;
    arm.vault("kv1").await;
    let pe = arm.pe_id("pe-kv");
    let body = json!({"location": "eastus", "properties": {"subnet": {"id": arm.subnet_id("vnet", "pe")},
        "manualPrivateLinkServiceConnections": [{"name": "m", "properties": {"privateLinkServiceId": arm.vault_id("kv1"), "groupIds": ["vault"], "requestMessage": "please"}}]}});
    let p = arm.put_ok(&pe, NET, body.clone()).await;
    let st = &p["properties"]["manualPrivateLinkServiceConnections"][0]["properties"]["privateLinkServiceConnectionState"];
    assert_eq!(st["status"], "Pending");
    assert_eq!(st["description"], "please");
    assert_eq!(p["properties"]["privateLinkServiceConnections"], json!([]));
    assert_eq!(
        p["properties"]["customDnsConfigs"][0]["fqdn"],
        "kv1.vault.azure.net"
    );
    // Approve behind ARM's back (as the target's owner would); a later PUT keeps it.
    let mut approved = p.clone();
    approved["properties"]["manualPrivateLinkServiceConnections"][0]["properties"]["privateLinkServiceConnectionState"]
        ["status"] = json!("Approved");
    arm.emu.admin.put_resource(&pe, approved, None).unwrap();
    let again = arm.put_ok(&pe, NET, body).await;
    assert_eq!(
        again["properties"]["manualPrivateLinkServiceConnections"][0]["properties"]["privateLinkServiceConnectionState"]
            ["status"],
        "Approved"
    );
    assert_eq!(arm.get(&arm.vault_id("kv1"), KV).await.str("/properties/privateEndpointConnections/0/properties/privateLinkServiceConnectionState/status"), "Approved");
    // The target disappears: Disconnected.
    arm.delete(&arm.vault_id("kv1"), KV).await.expect(200);
    let gone = arm.get(&pe, NET).await;
    assert_eq!(gone.str("/properties/manualPrivateLinkServiceConnections/0/properties/privateLinkServiceConnectionState/status"), "Disconnected");
}

#[tokio::test]
async fn zone_group_writes_record_sets_and_a_records() {
    let arm = Arm::new(1).await;
    arm.vnet("vnet", &[("pe", "10.10.1.0/24")]).await;
    let ws = arm.workspace("ws1").await;
    let wsid = ws["properties"]["workspaceId"]
        .as_str()
        .unwrap()
        .to_string();
    arm.zone("privatelink.api.azureml.ms").await;
    arm.zone("privatelink.notebooks.azure.net").await;
    let pe = arm.pe_id("pe-ws");
    let p = arm
        .put_ok(
            &pe,
            NET,
            arm.pe_body(
                &arm.subnet_id("vnet", "pe"),
                &arm.workspace_id("ws1"),
                "amlworkspace",
            ),
        )
        .await;
    let dns = p["properties"]["customDnsConfigs"]
        .as_array()
        .unwrap()
        .clone();
    let fqdns: Vec<&str> = dns.iter().map(|c| c["fqdn"].as_str().unwrap()).collect();
    assert_eq!(
        fqdns,
        vec![
            format!("{wsid}.workspace.eastus.api.azureml.ms").as_str(),
            format!("{wsid}.workspace.eastus.cert.api.azureml.ms").as_str(),
            format!("ml-ws1-eastus-{wsid}.eastus.notebooks.azure.net").as_str(),
            format!("*.{wsid}.inference.eastus.api.azureml.ms").as_str(),
        ]
    );
    // api and cert share one address; three in all.
    assert_eq!(dns[0]["ipAddresses"], dns[1]["ipAddresses"]);
    let mut ips: Vec<&str> = dns
        .iter()
        .map(|c| c["ipAddresses"][0].as_str().unwrap())
        .collect();
    ips.dedup();
    assert_eq!(ips.len(), 3);
    assert!(ips.iter().all(|ip| in_subnet(ip, "10.10.1.0/24")));
    assert_eq!(
        arm.get(&arm.workspace_id("ws1"), ML).await.body["properties"]["privateLinkCount"],
        json!(1)
    );

    let zg = format!("{pe}/privateDnsZoneGroups/default");
    let bad = arm
        .put(&zg, NET, json!({"properties": {"privateDnsZoneConfigs": [{"name": "x", "properties": {"privateDnsZoneId": arm.zone_id("privatelink.nope.net")}}]}}))
        .await;
    bad.expect_err(400, "InvalidResourceReference");
    let g = arm
        .put_ok(
            &zg,
            NET,
            json!({"properties": {"privateDnsZoneConfigs": [
                {"name": "api", "properties": {"privateDnsZoneId": arm.zone_id("privatelink.api.azureml.ms")}},
                {"name": "notebooks", "properties": {"privateDnsZoneId": arm.zone_id("privatelink.notebooks.azure.net")}}
            ]}}),
        )
        .await;
    let api_sets = g["properties"]["privateDnsZoneConfigs"][0]["properties"]["recordSets"]
        .as_array()
        .unwrap()
        .clone();
    let set_names: Vec<&str> = api_sets
        .iter()
        .map(|r| r["recordSetName"].as_str().unwrap())
        .collect();
    assert_eq!(
        set_names,
        vec![
            format!("{wsid}.workspace.eastus").as_str(),
            format!("{wsid}.workspace.eastus.cert").as_str(),
            format!("*.{wsid}.inference.eastus").as_str()
        ]
    );
    assert_eq!(api_sets[0]["recordType"], "A");
    assert_eq!(
        api_sets[0]["fqdn"],
        json!(format!(
            "{wsid}.workspace.eastus.privatelink.api.azureml.ms"
        ))
    );
    assert_eq!(api_sets[0]["ipAddresses"], dns[0]["ipAddresses"]);
    let nb_sets = &g["properties"]["privateDnsZoneConfigs"][1]["properties"]["recordSets"];
    assert_eq!(
        nb_sets[0]["recordSetName"],
        json!(format!("ml-ws1-eastus-{wsid}.eastus"))
    );
    assert_eq!(nb_sets[0]["ipAddresses"], dns[2]["ipAddresses"]);
    // The A records exist in the zones.
    let rec = arm
        .get(
            &format!(
                "{}/A/{wsid}.workspace.eastus",
                arm.zone_id("privatelink.api.azureml.ms")
            ),
            DNS,
        )
        .await;
    rec.expect(200);
    assert_eq!(rec.str("/type"), "Microsoft.Network/privateDnsZones/A");
    assert_eq!(
        rec.body["properties"]["aRecords"],
        json!([{"ipv4Address": dns[0]["ipAddresses"][0]}])
    );
    assert_eq!(
        rec.str("/properties/fqdn"),
        format!("{wsid}.workspace.eastus.privatelink.api.azureml.ms.")
    );
    assert!(rec.header("etag").is_some());
    let zone = arm
        .get(&arm.zone_id("privatelink.api.azureml.ms"), DNS)
        .await;
    assert_eq!(
        zone.body["properties"]["numberOfRecordSets"],
        json!(4),
        "SOA + 3 A"
    );
    let all = arm
        .get(
            &format!("{}/ALL", arm.zone_id("privatelink.api.azureml.ms")),
            DNS,
        )
        .await;
    assert_eq!(all.body["value"].as_array().map(Vec::len), Some(4));
    let a_only = arm
        .get(
            &format!("{}/A", arm.zone_id("privatelink.api.azureml.ms")),
            DNS,
        )
        .await;
    assert_eq!(a_only.body["value"].as_array().map(Vec::len), Some(3));
    // Deleting the zone group removes the records; so does deleting the endpoint.
    arm.delete_ok(&zg, NET).await;
    let gone = arm
        .get(
            &format!(
                "{}/A/{wsid}.workspace.eastus",
                arm.zone_id("privatelink.api.azureml.ms")
            ),
            DNS,
        )
        .await;
    gone.expect_err(404, "ResourceNotFound");
    assert!(
        gone.message()
            .contains("'Microsoft.Network/privateDnsZones/privatelink.api.azureml.ms/A/"),
        "{}",
        gone.message()
    );
    arm.put_ok(&zg, NET, json!({"properties": {"privateDnsZoneConfigs": [{"name": "api", "properties": {"privateDnsZoneId": arm.zone_id("privatelink.api.azureml.ms")}}]}}))
        .await;
    assert_eq!(
        arm.get(&arm.zone_id("privatelink.api.azureml.ms"), DNS)
            .await
            .body["properties"]["numberOfRecordSets"],
        json!(4)
    );
    // Drift through the admin API: the zone group vanishes with its records, then comes back.
    let dropped = arm.admin_delete(&format!("resources?id={zg}")).await;
    assert_eq!(dropped.body["deleted"], json!(true));
    assert_eq!(
        arm.get(&arm.zone_id("privatelink.api.azureml.ms"), DNS)
            .await
            .body["properties"]["numberOfRecordSets"],
        json!(1)
    );
    arm.put_ok(
        &zg,
        NET,
        json!({"properties": {"privateDnsZoneConfigs": [{"name": "api", "properties": {"privateDnsZoneId": arm.zone_id("privatelink.api.azureml.ms")}}]}}),
    )
    .await;
    arm.delete_ok(&pe, NET).await;
    arm.get(&zg, NET).await.expect_err(404, "ResourceNotFound");
    assert_eq!(
        arm.get(&arm.zone_id("privatelink.api.azureml.ms"), DNS)
            .await
            .body["properties"]["numberOfRecordSets"],
        json!(1)
    );
}

#[tokio::test]
async fn storage_and_vault_zone_records() {
    let arm = Arm::new(0).await;
    arm.vnet("vnet", &[("pe", "10.10.1.0/24")]).await;
    arm.storage("sa1").await;
    arm.vault("kv1").await;
    arm.zone("privatelink.blob.core.windows.net").await;
    arm.zone("privatelink.vaultcore.azure.net").await;
    let sid = arm.subnet_id("vnet", "pe");
    for (pe, target, group, zone) in [
        (
            "pe-blob",
            arm.storage_id("sa1"),
            "blob",
            "privatelink.blob.core.windows.net",
        ),
        (
            "pe-kv",
            arm.vault_id("kv1"),
            "vault",
            "privatelink.vaultcore.azure.net",
        ),
    ] {
        arm.put_ok(&arm.pe_id(pe), NET, arm.pe_body(&sid, &target, group))
            .await;
        let zg = arm
            .put_ok(
                &format!("{}/privateDnsZoneGroups/default", arm.pe_id(pe)),
                NET,
                json!({"properties": {"privateDnsZoneConfigs": [{"name": "z", "properties": {"privateDnsZoneId": arm.zone_id(zone)}}]}}),
            )
            .await;
        let rs = &zg["properties"]["privateDnsZoneConfigs"][0]["properties"]["recordSets"][0];
        let expected = if group == "blob" { "sa1" } else { "kv1" };
        assert_eq!(rs["recordSetName"], expected, "{zg}");
        arm.get(&format!("{}/A/{expected}", arm.zone_id(zone)), DNS)
            .await
            .expect(200);
    }
}

#[tokio::test]
async fn virtual_network_links() {
    let arm = Arm::new(1).await;
    arm.vnet("vnet", &[]).await;
    arm.zone("privatelink.api.azureml.ms").await;
    let link = format!(
        "{}/virtualNetworkLinks/link1",
        arm.zone_id("privatelink.api.azureml.ms")
    );
    arm.put(&link, DNS, json!({"location": "global", "properties": {"virtualNetwork": {"id": arm.vnet_id("nope")}}}))
        .await
        .expect_err(400, "InvalidResourceReference");
    let r = arm.put(&link, DNS, json!({"location": "global", "properties": {"virtualNetwork": {"id": arm.vnet_id("vnet")}}})).await;
    r.expect(201);
    assert_eq!(r.str("/properties/virtualNetworkLinkState"), "InProgress");
    assert_eq!(r.prov(), "Creating");
    assert!(r.header("location").is_some() && r.header("azure-asyncoperation").is_some());
    arm.wait(&r).await;
    let g = arm.get(&link, DNS).await;
    assert_eq!(g.str("/properties/virtualNetworkLinkState"), "Completed");
    assert_eq!(g.body["properties"]["registrationEnabled"], json!(false));
    assert_eq!(g.str("/location"), "global");
    assert!(!g.str("/etag").is_empty());
    let z = arm
        .get(&arm.zone_id("privatelink.api.azureml.ms"), DNS)
        .await;
    assert_eq!(
        z.body["properties"]["numberOfVirtualNetworkLinks"],
        json!(1)
    );
    // Same VNet twice in one zone; overlapping namespaces.
    let link2 = format!(
        "{}/virtualNetworkLinks/link2",
        arm.zone_id("privatelink.api.azureml.ms")
    );
    arm.put(&link2, DNS, json!({"location": "global", "properties": {"virtualNetwork": {"id": arm.vnet_id("vnet")}}}))
        .await
        .expect_err(409, "Conflict");
    arm.zone("api.azureml.ms").await;
    arm.put(
        &format!("{}/virtualNetworkLinks/l", arm.zone_id("api.azureml.ms")),
        DNS,
        json!({"location": "global", "properties": {"virtualNetwork": {"id": arm.vnet_id("vnet")}}}),
    )
    .await
    .expect_err(409, "Conflict");
    // A zone with links cannot be deleted.
    arm.delete(&arm.zone_id("privatelink.api.azureml.ms"), DNS)
        .await
        .expect_err(409, "Conflict");
    arm.delete_ok(&link, DNS).await;
    arm.delete_ok(&arm.zone_id("privatelink.api.azureml.ms"), DNS)
        .await;
    let list = arm
        .get(&arm.rid("Microsoft.Network/privateDnsZones"), DNS)
        .await;
    assert_eq!(names(&list.body["value"]), vec!["api.azureml.ms"]);
}

/// An endpoint whose create ended Failed and is written again keeps its network interface and
/// addresses, as on Azure: one address per member, not a second set beside the first.
#[tokio::test]
async fn an_endpoint_written_again_after_a_failed_create_keeps_its_addresses() {
    let arm = Arm::new(1).await;
    arm.vnet("vnet", &[("pe", "10.10.1.0/24")]).await;
    arm.registry("cr1", "Premium").await;
    let pe = arm.pe_id("pe-cr");
    let body = arm.pe_body(&arm.subnet_id("vnet", "pe"), &arm.registry_id("cr1"), "registry");
    let failed = moat::emulator::Fault::FailLro { code: "InternalServerError".into(), message: "failed".into(), status: None };
    arm.emu.admin.add_fault(moat::emulator::FaultRule::new(Some("PUT"), Some("Microsoft.Network/privateEndpoints"), None, failed, Some(1)));
    let r = arm.put(&pe, NET, body.clone()).await;
    let done = arm.wait(&r).await;
    assert_eq!(done.str("/status"), "Failed", "{:?}", done.body);
    let first = arm.get(&pe, NET).await.body;
    assert_eq!(first["properties"]["provisioningState"], "Failed");
    let again = arm.put_ok(&pe, NET, body).await;
    let configs = |v: &Value| -> Vec<(String, String)> {
        v["properties"]["customDnsConfigs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| (c["fqdn"].as_str().unwrap_or_default().to_string(), c["ipAddresses"][0].as_str().unwrap_or_default().to_string()))
            .collect()
    };
    assert_eq!(configs(&again).len(), 2, "{:#}", again["properties"]["customDnsConfigs"]);
    assert_eq!(configs(&again), configs(&first), "the addresses stay");
    assert_eq!(again["properties"]["networkInterfaces"], first["properties"]["networkInterfaces"], "the same NIC");
}

/// Two connections of one name in one endpoint are refused, as ARM refuses duplicate child names.
#[tokio::test]
async fn an_endpoint_with_two_connections_of_one_name_is_refused() {
    let arm = Arm::new(0).await;
    arm.vnet("vnet", &[("pe", "10.10.1.0/24")]).await;
    arm.registry("cr1", "Premium").await;
    let mut body = arm.pe_body(&arm.subnet_id("vnet", "pe"), &arm.registry_id("cr1"), "registry");
    let conn = body["properties"]["privateLinkServiceConnections"][0].clone();
    body["properties"]["privateLinkServiceConnections"].as_array_mut().expect("connections").push(conn);
    arm.put(&arm.pe_id("pe-cr"), NET, body).await.expect_err(400, "InvalidRequestFormat");
}
