//! Azure ML workspaces and computes, storage accounts, key vaults, container registries and
//! Application Insights: wire behaviour (202 + Location where the service does it), read-only
//! fills, and the services' own rules (global names, SKUs, linked resources).

mod emulator_support;

use emulator_support::*;
use serde_json::{Value, json};

#[tokio::test]
async fn storage_create_is_202_with_location_then_200_body() {
    let arm = Arm::new(1).await;
    let id = arm.storage_id("sa1");
    let r = arm
        .put(
            &id,
            ST,
            json!({"location": "eastus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}),
        )
        .await;
    r.expect(202);
    assert!(r.body.is_null());
    let loc = r.header("location").expect("Location");
    assert!(
        loc.contains("/providers/Microsoft.Storage/locations/eastus/asyncoperations/")
            && loc.contains("monitor=true"),
        "{loc}"
    );
    assert!(r.header("azure-asyncoperation").is_none());
    assert_eq!(r.header("retry-after").as_deref(), Some("0"));
    arm.get_abs(&loc).await.expect(202);
    let done = arm.get_abs(&loc).await;
    done.expect(200);
    assert_eq!(done.prov(), "Succeeded");
    assert_eq!(
        done.str("/properties/primaryEndpoints/blob"),
        "https://sa1.blob.core.windows.net/"
    );
    assert_eq!(
        done.str("/properties/primaryEndpoints/dfs"),
        "https://sa1.dfs.core.windows.net/"
    );
    assert_eq!(done.str("/properties/networkAcls/defaultAction"), "Allow");
    assert_eq!(done.str("/properties/networkAcls/bypass"), "AzureServices");
    assert_eq!(done.str("/sku/tier"), "Standard");
    assert!(done.body.get("etag").is_none());
    // Update PUT and PATCH are synchronous.
    let u = arm.put(&id, ST, json!({"location": "eastus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "properties": {"publicNetworkAccess": "Disabled"}})).await;
    u.expect(200);
    assert_eq!(u.prov(), "Succeeded");
    let p = arm.patch(&id, ST, json!({"properties": {"networkAcls": {"defaultAction": "Deny", "ipRules": [{"value": "203.0.113.0/24", "action": "Allow"}]}}})).await;
    p.expect(200);
    assert_eq!(p.str("/properties/networkAcls/defaultAction"), "Deny");
    assert_eq!(
        p.str("/properties/networkAcls/bypass"),
        "AzureServices",
        "merge keeps other fields"
    );
    assert_eq!(p.str("/properties/publicNetworkAccess"), "Disabled");
    arm.patch(&arm.storage_id("nosuch"), ST, json!({"tags": {}}))
        .await
        .expect_err(404, "ResourceNotFound");
    // Location change on update is refused.
    arm.put(
        &id,
        ST,
        json!({"location": "westus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}),
    )
    .await
    .expect_err(400, "InvalidResourceLocation");
    // Delete is synchronous.
    arm.delete(&id, ST).await.expect(200);
    arm.delete(&id, ST).await.expect(204);
}

#[tokio::test]
async fn storage_names_and_network_rules() {
    let arm = Arm::new(0).await;
    let body = json!({"location": "eastus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"});
    arm.put(&arm.storage_id("Bad_Name"), ST, body.clone())
        .await
        .expect_err(400, "AccountNameInvalid");
    arm.put(&arm.storage_id("ab"), ST, body.clone())
        .await
        .expect_err(400, "AccountNameInvalid");
    arm.storage("taken1").await;
    // Same subscription, other group.
    arm.emu.admin.seed_resource_group(SUB, "rg-other", None);
    let other_rg = format!(
        "/subscriptions/{SUB}/resourceGroups/rg-other/providers/Microsoft.Storage/storageAccounts/taken1"
    );
    arm.put(&other_rg, ST, body.clone())
        .await
        .expect_err(409, "StorageAccountInAnotherResourceGroup");
    // Another subscription: globally taken.
    arm.emu.admin.seed_resource_group(SUB2, "rg", None);
    let other_sub = format!(
        "/subscriptions/{SUB2}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/taken1"
    );
    let t = arm.put(&other_sub, ST, body.clone()).await;
    t.expect_err(409, "StorageAccountAlreadyTaken");
    assert_eq!(
        t.message(),
        "The storage account named taken1 is already taken."
    );
    // VNet rules need the Microsoft.Storage service endpoint on the subnet.
    arm.vnet("vnet", &[("plain", "10.10.1.0/24")]).await;
    arm.put_ok(&arm.subnet_id("vnet", "se"), NET, json!({"properties": {"addressPrefix": "10.10.2.0/24", "serviceEndpoints": [{"service": "Microsoft.Storage"}]}}))
        .await;
    let acl = |sid: String| json!({"properties": {"networkAcls": {"defaultAction": "Deny", "virtualNetworkRules": [{"id": sid}]}}});
    let e = arm
        .patch(
            &arm.storage_id("taken1"),
            ST,
            acl(arm.subnet_id("vnet", "plain")),
        )
        .await;
    e.expect_err(400, "NetworkAclsValidationFailure");
    assert!(
        e.message()
            .contains("SubnetsHaveNoServiceEndpointsConfigured"),
        "{}",
        e.message()
    );
    let ok = arm
        .patch(
            &arm.storage_id("taken1"),
            ST,
            acl(arm.subnet_id("vnet", "se")),
        )
        .await;
    ok.expect(200);
    assert_eq!(
        ok.str("/properties/networkAcls/virtualNetworkRules/0/state"),
        "Succeeded"
    );
    assert_eq!(
        ok.str("/properties/networkAcls/virtualNetworkRules/0/action"),
        "Allow"
    );
}

#[tokio::test]
async fn key_vault_names_soft_delete_recover_purge() {
    let arm = Arm::new(0).await;
    let v = arm.vault("kv-one").await;
    assert_eq!(
        v["properties"]["vaultUri"],
        "https://kv-one.vault.azure.net/"
    );
    assert_eq!(v["properties"]["enableSoftDelete"], json!(true));
    let body = json!({"location": "eastus", "properties": {"tenantId": "t", "sku": {"family": "A", "name": "standard"}}});
    // First PUT 201, update 200, synchronous.
    let c = arm.put(&arm.vault_id("kv-two"), KV, body.clone()).await;
    c.expect(201);
    assert_eq!(c.prov(), "Succeeded");
    assert!(c.header("azure-asyncoperation").is_none());
    arm.put(&arm.vault_id("kv-two"), KV, body.clone())
        .await
        .expect(200);
    arm.put(&arm.vault_id("1bad"), KV, body.clone())
        .await
        .expect_err(400, "VaultNameNotValid");
    arm.emu.admin.seed_resource_group(SUB, "rg-other", None);
    let elsewhere = format!(
        "/subscriptions/{SUB}/resourceGroups/rg-other/providers/Microsoft.KeyVault/vaults/KV-ONE"
    );
    arm.put(&elsewhere, KV, body.clone())
        .await
        .expect_err(409, "VaultAlreadyExists");
    // PATCH.
    let p = arm.patch(&arm.vault_id("kv-one"), KV, json!({"properties": {"publicNetworkAccess": "Disabled", "networkAcls": {"defaultAction": "Deny"}}})).await;
    p.expect(200);
    assert_eq!(p.str("/properties/networkAcls/bypass"), "AzureServices");
    assert_eq!(p.str("/properties/publicNetworkAccess"), "Disabled");
    // Soft delete: the name stays reserved.
    arm.delete(&arm.vault_id("kv-one"), KV).await.expect(200);
    arm.get(&arm.vault_id("kv-one"), KV)
        .await
        .expect_err(404, "ResourceNotFound");
    let deleted = arm
        .get(
            &format!("/subscriptions/{SUB}/providers/Microsoft.KeyVault/deletedVaults"),
            KV,
        )
        .await;
    assert_eq!(deleted.str("/value/0/name"), "kv-one");
    arm.put(&arm.vault_id("kv-one"), KV, body.clone())
        .await
        .expect_err(409, "ConflictError");
    // Recover brings it back as it was.
    let mut recover = body.clone();
    recover["properties"]["createMode"] = json!("recover");
    let r = arm.put(&arm.vault_id("kv-one"), KV, recover).await;
    r.expect(201);
    assert_eq!(r.str("/properties/publicNetworkAccess"), "Disabled");
    // Delete + purge frees the name.
    arm.delete(&arm.vault_id("kv-one"), KV).await.expect(200);
    let purge = format!(
        "/subscriptions/{SUB}/providers/Microsoft.KeyVault/locations/eastus/deletedVaults/kv-one/purge"
    );
    arm.send(arm.http.post(arm.url(&purge, Some(KV))))
        .await
        .expect(200);
    arm.put(&arm.vault_id("kv-one"), KV, body.clone())
        .await
        .expect(201);
    // enableSoftDelete=false: gone for good.
    let mut nosoft = body.clone();
    nosoft["properties"]["enableSoftDelete"] = json!(false);
    arm.put(&arm.vault_id("kv-three"), KV, nosoft)
        .await
        .expect(201);
    arm.delete(&arm.vault_id("kv-three"), KV).await.expect(200);
    arm.put(&arm.vault_id("kv-three"), KV, body)
        .await
        .expect(201);
}

#[tokio::test]
async fn container_registry_skus_and_names() {
    let arm = Arm::new(1).await;
    let id = arm.registry_id("acr1");
    let r = arm.put(&id, ACR, json!({"location": "eastus", "sku": {"name": "Premium"}, "properties": {"publicNetworkAccess": "Disabled", "dataEndpointEnabled": true}})).await;
    r.expect(201);
    assert_eq!(r.prov(), "Creating");
    assert!(r.header("azure-asyncoperation").is_some());
    arm.wait(&r).await;
    let g = arm.get(&id, ACR).await;
    assert_eq!(g.str("/properties/loginServer"), "acr1.azurecr.io");
    assert_eq!(
        g.body["properties"]["dataEndpointHostNames"],
        json!(["acr1.eastus.data.azurecr.io"])
    );
    assert_eq!(g.str("/properties/networkRuleSet/defaultAction"), "Allow");
    assert_eq!(
        g.str("/properties/networkRuleBypassOptions"),
        "AzureServices"
    );
    assert_eq!(g.str("/sku/tier"), "Premium");
    // PATCH is asynchronous for ACR.
    let p = arm.patch(&id, ACR, json!({"properties": {"networkRuleSet": {"defaultAction": "Deny", "ipRules": [{"action": "Allow", "value": "203.0.113.0/24"}]}}})).await;
    p.expect(200);
    assert!(p.header("azure-asyncoperation").is_some());
    arm.wait(&p).await;
    assert_eq!(
        arm.get(&id, ACR)
            .await
            .str("/properties/networkRuleSet/defaultAction"),
        "Deny"
    );
    // Non-Premium limits.
    arm.emu.admin.settle();
    arm.put(&arm.registry_id("acrbasic"), ACR, json!({"location": "eastus", "sku": {"name": "Basic"}, "properties": {"publicNetworkAccess": "Disabled"}}))
        .await
        .expect_err(400, "DisablingPublicNetworkAccessNotSupported");
    arm.put(&arm.registry_id("acrstd"), ACR, json!({"location": "eastus", "sku": {"name": "Standard"}, "properties": {"networkRuleSet": {"defaultAction": "Deny"}}}))
        .await
        .expect_err(400, "NetworkRuleSetNotSupported");
    arm.put(
        &arm.registry_id("acrx"),
        ACR,
        json!({"location": "eastus", "properties": {}}),
    )
    .await
    .expect_err(400, "InvalidSku");
    arm.put(
        &arm.registry_id("acrx"),
        ACR,
        json!({"location": "eastus", "sku": {"name": "Classic"}}),
    )
    .await
    .expect_err(400, "InvalidSku");
    // Names are global.
    arm.emu.admin.seed_resource_group(SUB2, "rg", None);
    let dup = format!(
        "/subscriptions/{SUB2}/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/ACR1"
    );
    arm.put(
        &dup,
        ACR,
        json!({"location": "eastus", "sku": {"name": "Basic"}}),
    )
    .await
    .expect_err(409, "AlreadyInUse");
    let d = arm.delete(&id, ACR).await;
    d.expect(202);
}

#[tokio::test]
async fn app_insights_components() {
    let arm = Arm::new(1).await;
    let id = arm.insights_id("ai1");
    let r = arm
        .put(
            &id,
            AI,
            json!({"location": "eastus", "kind": "web", "properties": {"Application_Type": "web"}}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.prov(), "Succeeded");
    assert_eq!(r.str("/type"), "microsoft.insights/components");
    let ikey = r.str("/properties/InstrumentationKey").to_string();
    assert_eq!(ikey.len(), 36);
    assert!(r.str("/properties/ConnectionString").starts_with(&format!(
        "InstrumentationKey={ikey};IngestionEndpoint=https://eastus"
    )));
    assert_eq!(r.str("/properties/ApplicationId"), "ai1");
    // Update keeps the key.
    let u = arm.put(&id, AI, json!({"location": "eastus", "kind": "web", "properties": {"Application_Type": "web"}, "tags": {"a": "b"}})).await;
    u.expect(200);
    assert_eq!(u.str("/properties/InstrumentationKey"), ikey);
    // Lower-case id answers too.
    arm.get(&id.to_ascii_lowercase(), AI).await.expect(200);
    arm.get(&id, "2021-01-01")
        .await
        .expect_err(400, "NoRegisteredProviderFound");
    arm.delete(&id, AI).await.expect(200);
}

#[tokio::test]
async fn workspace_lifecycle_and_fills() {
    let arm = Arm::new(1).await;
    arm.storage("sa1").await;
    arm.vault("kv1").await;
    arm.insights("ai1").await;
    arm.registry("acr1", "Premium").await;
    let id = arm.workspace_id("ws1");
    let body = json!({
        "location": "eastus",
        "identity": {"type": "SystemAssigned"},
        "sku": {"name": "Basic", "tier": "Basic"},
        "properties": {
            "storageAccount": arm.storage_id("sa1"),
            "keyVault": arm.vault_id("kv1"),
            "applicationInsights": arm.insights_id("ai1"),
            "containerRegistry": arm.registry_id("acr1"),
            "publicNetworkAccess": "Disabled",
            "imageBuildCompute": "cpu-cluster",
        }
    });
    let r = arm.put(&id, ML, body.clone()).await;
    r.expect(202);
    let loc = r.header("location").expect("Location");
    assert!(r.header("azure-asyncoperation").is_some());
    assert_eq!(arm.get(&id, ML).await.prov(), "Creating");
    let done = arm
        .wait(&Resp {
            status: 202,
            headers: r.headers.clone(),
            body: Value::Null,
        })
        .await;
    assert_eq!(done.str("/status"), "Succeeded");
    let l = arm.get_abs(&loc).await;
    l.expect(200);
    let ws = arm.get(&id, ML).await;
    assert_eq!(ws.prov(), "Succeeded");
    let wsid = ws.str("/properties/workspaceId").to_string();
    assert_eq!(wsid.len(), 36);
    assert_eq!(
        ws.str("/properties/discoveryUrl"),
        "https://eastus.api.azureml.ms/discovery"
    );
    assert_eq!(ws.str("/identity/type"), "SystemAssigned");
    assert_eq!(ws.str("/identity/principalId").len(), 36);
    assert!(!ws.str("/identity/tenantId").is_empty());
    assert_eq!(ws.str("/properties/publicNetworkAccess"), "Disabled");
    assert_eq!(ws.body["properties"]["privateLinkCount"], json!(0));
    assert_eq!(ws.str("/properties/imageBuildCompute"), "cpu-cluster");
    // An update keeps the generated ids; storage cannot change.
    let u = arm.put(&id, ML, body.clone()).await;
    u.expect(202);
    arm.emu.admin.settle();
    assert_eq!(arm.get(&id, ML).await.str("/properties/workspaceId"), wsid);
    arm.storage("sa2").await;
    let mut moved = body.clone();
    moved["properties"]["storageAccount"] = json!(arm.storage_id("sa2"));
    arm.put(&id, ML, moved)
        .await
        .expect_err(400, "ValidationError");
    // PATCH (202 + Location as the spec says).
    let p = arm
        .patch(
            &id,
            ML,
            json!({"properties": {"publicNetworkAccess": "Enabled"}}),
        )
        .await;
    p.expect(202);
    arm.wait(&Resp {
        status: 202,
        headers: p.headers.clone(),
        body: Value::Null,
    })
    .await;
    assert_eq!(
        arm.get(&id, ML)
            .await
            .str("/properties/publicNetworkAccess"),
        "Enabled"
    );
    arm.delete_ok(&id, ML).await;
    arm.get(&id, ML).await.expect_err(404, "ResourceNotFound");
}

#[tokio::test]
async fn workspace_linked_resources_must_exist() {
    let arm = Arm::new(0).await;
    arm.storage("sa1").await;
    arm.vault("kv1").await;
    let id = arm.workspace_id("ws");
    let w = |sa: Value, kv: Value| json!({"location": "eastus", "properties": {"storageAccount": sa, "keyVault": kv}});
    arm.put(
        &id,
        ML,
        w(json!(arm.storage_id("nope")), json!(arm.vault_id("kv1"))),
    )
    .await
    .expect_err(400, "ValidationError");
    arm.put(&id, ML, w(json!("sa1"), json!(arm.vault_id("kv1"))))
        .await
        .expect_err(400, "LinkedInvalidPropertyId");
    arm.put(
        &id,
        ML,
        json!({"location": "eastus", "properties": {"storageAccount": arm.storage_id("sa1")}}),
    )
    .await
    .expect_err(400, "ValidationError");
    arm.put(
        &id,
        ML,
        w(json!(arm.vault_id("kv1")), json!(arm.vault_id("kv1"))),
    )
    .await
    .expect_err(400, "ValidationError");
    let mut bad_reg = w(json!(arm.storage_id("sa1")), json!(arm.vault_id("kv1")));
    bad_reg["properties"]["containerRegistry"] = json!(arm.registry_id("none"));
    arm.put(&id, ML, bad_reg)
        .await
        .expect_err(400, "ValidationError");
    arm.put(
        &id,
        ML,
        w(json!(arm.storage_id("sa1")), json!(arm.vault_id("kv1"))),
    )
    .await
    .expect(202);
}

#[tokio::test]
async fn computes_in_a_workspace() {
    let arm = Arm::new(1).await;
    arm.emu.admin.update_config(&moat::emulator::ConfigPatch {
        polls_to_complete: Some(0),
        ..Default::default()
    });
    arm.workspace("ws1").await;
    arm.vnet("vnet", &[("compute", "10.10.2.0/24")]).await;
    arm.put_ok(
        &arm.subnet_id("vnet", "aci"),
        NET,
        json!({"properties": {"addressPrefix": "10.10.3.0/24", "delegations": [{"name": "d", "properties": {"serviceName": "Microsoft.ContainerInstance/containerGroups"}}]}}),
    )
    .await;
    arm.emu.admin.update_config(&moat::emulator::ConfigPatch {
        polls_to_complete: Some(1),
        ..Default::default()
    });
    let cid = format!("{}/computes/cpu-cluster", arm.workspace_id("ws1"));
    let compute = |subnet: String| {
        json!({"location": "eastus", "properties": {"computeType": "AmlCompute", "disableLocalAuth": true, "properties": {
            "vmSize": "STANDARD_DS3_V2", "scaleSettings": {"minNodeCount": 0, "maxNodeCount": 4, "nodeIdleTimeBeforeScaleDown": "PT120S"},
            "subnet": {"id": subnet}, "enableNodePublicIp": false}}})
    };
    arm.put(&cid, ML, compute(arm.subnet_id("vnet", "nope")))
        .await
        .expect_err(400, "ValidationError");
    arm.put(&cid, ML, compute(arm.subnet_id("vnet", "aci")))
        .await
        .expect_err(400, "ValidationError");
    arm.put(
        &cid,
        ML,
        json!({"location": "eastus", "properties": {"computeType": "Quantum"}}),
    )
    .await
    .expect_err(400, "ValidationError");
    arm.put(
        &format!("{}/computes/x", arm.workspace_id("nows")),
        ML,
        compute(arm.subnet_id("vnet", "compute")),
    )
    .await
    .expect_err(404, "ParentResourceNotFound");
    let r = arm
        .put(&cid, ML, compute(arm.subnet_id("vnet", "compute")))
        .await;
    r.expect(201);
    assert_eq!(r.prov(), "Creating");
    assert!(r.header("azure-asyncoperation").is_some());
    arm.wait(&r).await;
    let c = arm.get(&cid, ML).await;
    assert_eq!(c.prov(), "Succeeded");
    assert_eq!(c.str("/properties/properties/allocationState"), "Steady");
    assert_eq!(
        c.body["properties"]["properties"]["currentNodeCount"],
        json!(0)
    );
    assert_eq!(
        c.body["properties"]["properties"]["enableNodePublicIp"],
        json!(false)
    );
    assert_eq!(c.str("/properties/properties/osType"), "Linux");
    let list = arm
        .get(&format!("{}/computes", arm.workspace_id("ws1")), ML)
        .await;
    assert_eq!(list.str("/value/0/name"), "cpu-cluster");
    // Scale settings change through PATCH (synchronous).
    let p = arm.patch(&cid, ML, json!({"properties": {"properties": {"scaleSettings": {"minNodeCount": 1, "maxNodeCount": 2}}}})).await;
    p.expect(200);
    assert_eq!(
        p.body["properties"]["properties"]["scaleSettings"]["maxNodeCount"],
        json!(2)
    );
    assert_eq!(
        p.body["properties"]["properties"]["targetNodeCount"],
        json!(1)
    );
    arm.put(&cid, ML, json!({"location": "eastus", "properties": {"computeType": "ComputeInstance", "properties": {}}}))
        .await
        .expect_err(400, "ValidationError");
    // Deleting the workspace removes its computes.
    arm.delete_ok(&arm.workspace_id("ws1"), ML).await;
    arm.get(&cid, ML).await.expect_err(404, "ResourceNotFound");
}
