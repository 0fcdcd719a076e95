//! ARM wire behaviour of the emulator: status codes, LRO progression and headers, DELETE,
//! case-insensitivity, api-versions, resource groups, bad bodies, paging, ETags, faults, the
//! request log, the state dump, auth, rate-limit headers, and AnotherOperationInProgress.

mod emulator_support;

use std::time::{Duration, Instant};

use emulator_support::*;
use moat::emulator::{EmulatorConfig, Fault, FaultRule};
use serde_json::{Value, json};

fn vnet_body(subnets: Value) -> Value {
    json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.10.0.0/16"]}, "subnets": subnets}})
}

#[tokio::test]
async fn create_is_201_update_is_200_with_lro_headers() {
    let arm = Arm::new(1).await;
    let id = arm.vnet_id("vnet1");
    let r = arm.put(&id, NET, vnet_body(json!([]))).await;
    r.expect(201);
    assert_eq!(r.prov(), "Updating");
    assert_eq!(r.str("/id"), id);
    assert_eq!(r.str("/name"), "vnet1");
    assert_eq!(r.str("/type"), "Microsoft.Network/virtualNetworks");
    assert!(r.str("/etag").starts_with("W/\""), "weak etag: {}", r.body);
    assert!(!r.str("/properties/resourceGuid").is_empty());
    let op = r
        .header("azure-asyncoperation")
        .expect("Azure-AsyncOperation");
    assert!(op.starts_with(arm.base()), "absolute URL: {op}");
    assert!(
        op.contains("/providers/Microsoft.Network/locations/eastus/operations/"),
        "{op}"
    );
    assert!(op.contains("api-version=2024-05-01"), "{op}");
    assert_eq!(r.header("retry-after").as_deref(), Some("0"));
    assert!(
        r.header("location").is_none(),
        "Network PUT sends no Location"
    );

    // Status resource: InProgress for one poll, then Succeeded.
    let s1 = arm.get_abs(&op).await;
    s1.expect(200);
    assert_eq!(s1.str("/status"), "InProgress");
    assert!(!s1.str("/startTime").is_empty());
    let s2 = arm.get_abs(&op).await;
    assert_eq!(s2.str("/status"), "Succeeded");
    assert!(!s2.str("/endTime").is_empty());
    let g = arm.get(&id, NET).await;
    g.expect(200);
    assert_eq!(g.prov(), "Succeeded");
    assert_eq!(g.header("etag").as_deref(), Some(g.str("/etag")));

    let u = arm.put(&id, NET, vnet_body(json!([]))).await;
    u.expect(200);
    assert_eq!(u.prov(), "Updating");
}

#[tokio::test]
async fn lro_progresses_over_n_polls_of_any_kind() {
    let arm = Arm::new(3).await;
    let id = arm.vnet_id("vnet1");
    let r = arm.put(&id, NET, vnet_body(json!([]))).await;
    let op = r.header("azure-asyncoperation").unwrap();
    // Three polls in progress (status URL or the resource itself), the fourth completes.
    assert_eq!(arm.get_abs(&op).await.str("/status"), "InProgress");
    assert_eq!(arm.get(&id, NET).await.prov(), "Updating");
    assert_eq!(arm.get_abs(&op).await.str("/status"), "InProgress");
    // A list is not a poll.
    let list = arm
        .get(&arm.rid("Microsoft.Network/virtualNetworks"), NET)
        .await;
    assert_eq!(
        list.str("/value/0/properties/provisioningState"),
        "Updating"
    );
    assert_eq!(arm.get(&id, NET).await.prov(), "Succeeded");
    assert_eq!(arm.get_abs(&op).await.str("/status"), "Succeeded");
}

#[tokio::test]
async fn polls_zero_completes_at_once_with_headers() {
    let arm = Arm::new(0).await;
    let id = arm.vnet_id("vnet1");
    let r = arm.put(&id, NET, vnet_body(json!([]))).await;
    r.expect(201);
    assert_eq!(r.prov(), "Succeeded");
    let op = r.header("azure-asyncoperation").expect("header still sent");
    assert_eq!(arm.get_abs(&op).await.str("/status"), "Succeeded");
    let d = arm.delete(&id, NET).await;
    d.expect(202);
    arm.get_abs(&d.header("location").unwrap())
        .await
        .expect(204);
    arm.get(&id, NET).await.expect_err(404, "ResourceNotFound");
}

#[tokio::test]
async fn delete_is_202_with_location_then_204() {
    let arm = Arm::new(2).await;
    let id = arm.vnet_id("vnet1");
    arm.put_ok(&id, NET, vnet_body(json!([]))).await;
    let d = arm.delete(&id, NET).await;
    d.expect(202);
    assert!(d.body.is_null(), "202 has no body");
    let loc = d.header("location").expect("Location");
    assert!(loc.contains("/operationResults/"), "{loc}");
    assert!(d.header("azure-asyncoperation").is_some());
    assert_eq!(d.header("retry-after").as_deref(), Some("0"));
    assert_eq!(arm.get(&id, NET).await.prov(), "Deleting");
    let p1 = arm.get_abs(&loc).await;
    p1.expect(202);
    assert!(p1.header("location").is_some());
    arm.get_abs(&loc).await.expect(204);
    arm.get(&id, NET).await.expect_err(404, "ResourceNotFound");
    // Deleting what is not there: 204.
    arm.delete(&id, NET).await.expect(204);
    // A missing child answers the Network RP's NotFound.
    arm.put_ok(&id, NET, vnet_body(json!([]))).await;
    arm.get(&arm.subnet_id("vnet1", "nope"), NET)
        .await
        .expect_err(404, "NotFound");
    arm.get(&arm.subnet_id("vnet-missing", "nope"), NET)
        .await
        .expect_err(404, "ResourceNotFound");
}

#[tokio::test]
async fn ids_are_case_insensitive_and_keep_first_casing() {
    let arm = Arm::new(0).await;
    let mixed = format!(
        "/subscriptions/{SUB}/resourcegroups/RG-ML/providers/microsoft.network/VIRTUALNETWORKS/VNet-A"
    );
    arm.put(
        &mixed,
        NET,
        vnet_body(json!([{"name": "Snet-One", "properties": {"addressPrefix": "10.10.1.0/24"}}])),
    )
    .await
    .expect(201);
    let lower = mixed.to_ascii_lowercase();
    let g = arm.get(&lower, NET).await;
    g.expect(200);
    assert_eq!(
        g.str("/id"),
        format!(
            "/subscriptions/{SUB}/resourceGroups/RG-ML/providers/Microsoft.Network/virtualNetworks/VNet-A"
        )
    );
    assert_eq!(g.str("/name"), "VNet-A");
    assert_eq!(g.str("/properties/subnets/0/name"), "Snet-One");
    // An update with other casing keeps the first-seen casing and answers 200.
    let upper = mixed
        .to_ascii_uppercase()
        .replace("SUBSCRIPTIONS", "subscriptions");
    let u = arm
        .put(
            &upper,
            NET,
            vnet_body(
                json!([{"name": "SNET-ONE", "properties": {"addressPrefix": "10.10.1.0/24"}}]),
            ),
        )
        .await;
    u.expect(200);
    assert_eq!(u.str("/name"), "VNet-A");
    assert_eq!(u.str("/properties/subnets/0/name"), "Snet-One");
    let sub = arm.get(&format!("{lower}/subnets/snet-one"), NET).await;
    sub.expect(200);
    assert_eq!(
        sub.str("/type"),
        "Microsoft.Network/virtualNetworks/subnets"
    );
}

#[tokio::test]
async fn api_version_is_checked_like_arm() {
    let arm = Arm::new(0).await;
    let id = arm.vnet_id("v");
    let none = arm.send(arm.http.get(format!("{}{id}", arm.base()))).await;
    none.expect_err(400, "MissingApiVersionParameter");
    arm.get(&id, "2024-5-1")
        .await
        .expect_err(400, "InvalidApiVersionParameter");
    let old = arm.get(&id, "2014-01-01").await;
    old.expect_err(400, "NoRegisteredProviderFound");
    assert!(
        old.message().contains("2024-05-01"),
        "lists the supported versions: {}",
        old.message()
    );
    // Private DNS versions are not Network's.
    arm.get(&arm.zone_id("z.example"), "2024-05-01")
        .await
        .expect_err(400, "NoRegisteredProviderFound");
    arm.get(&arm.zone_id("z.example"), DNS)
        .await
        .expect_err(404, "ResourceNotFound");
    arm.get(&arm.insights_id("ai"), AI)
        .await
        .expect_err(404, "ResourceNotFound");
    arm.get(&arm.rid("Microsoft.Network/loadBalancers/lb"), NET)
        .await
        .expect_err(400, "InvalidResourceType");
}

#[tokio::test]
async fn resource_groups_and_missing_group() {
    let arm = Arm::new(1).await;
    let missing = format!(
        "/subscriptions/{SUB}/resourceGroups/nope/providers/Microsoft.Network/virtualNetworks/v"
    );
    arm.put(&missing, NET, vnet_body(json!([])))
        .await
        .expect_err(404, "ResourceGroupNotFound");
    arm.get(&missing, NET)
        .await
        .expect_err(404, "ResourceGroupNotFound");
    let rg = format!("/subscriptions/{SUB}/resourcegroups/rg-new");
    arm.put(&rg, RGV, json!({}))
        .await
        .expect_err(400, "LocationRequired");
    let c = arm.put(&rg, RGV, json!({"location": "West Europe"})).await;
    c.expect(201);
    assert_eq!(c.str("/location"), "westeurope");
    assert_eq!(c.str("/properties/provisioningState"), "Succeeded");
    arm.put(
        &rg,
        RGV,
        json!({"location": "westeurope", "tags": {"a": "b"}}),
    )
    .await
    .expect(200);
    arm.put(&rg, RGV, json!({"location": "eastus"}))
        .await
        .expect_err(409, "InvalidResourceGroupLocation");
    let head = arm.send(arm.http.head(arm.url(&rg, Some(RGV)))).await;
    assert_eq!(head.status, 204);
    // Resources go with their group.
    let v = format!("{rg}/providers/Microsoft.Network/virtualNetworks/v");
    arm.put_ok(&v, NET, json!({"location": "westeurope", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}}))
        .await;
    let d = arm.delete(&rg, RGV).await;
    d.expect(202);
    arm.put(&v, NET, vnet_body(json!([])))
        .await
        .expect_err(409, "ResourceGroupBeingDeleted");
    let done = arm.wait(&d).await;
    assert_eq!(done.status, 200);
    arm.get(&rg, RGV)
        .await
        .expect_err(404, "ResourceGroupNotFound");
    arm.get(&v, NET)
        .await
        .expect_err(404, "ResourceGroupNotFound");
    let list = arm
        .get(&format!("/subscriptions/{SUB}/resourcegroups"), RGV)
        .await;
    list.expect(200);
    assert_eq!(list.body["value"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn bad_bodies_are_invalid_request_content() {
    let arm = Arm::new(0).await;
    let id = arm.vnet_id("v");
    let url = arm.url(&id, Some(NET));
    for body in ["{not json", "[1,2]", "", "\"x\""] {
        let r = arm
            .send(
                arm.http
                    .put(&url)
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await;
        r.expect_err(400, "InvalidRequestContent");
    }
    // Wrong shapes inside a valid document: Network's InvalidRequestFormat, never a panic.
    arm.put(&id, NET, json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}, "subnets": 5}}))
        .await
        .expect_err(400, "InvalidRequestFormat");
    arm.put(&id, NET, json!({"location": "eastus", "properties": "x"}))
        .await
        .expect_err(400, "InvalidRequestFormat");
    arm.put(&id, NET, json!({"properties": {}}))
        .await
        .expect_err(400, "LocationRequired");
    // Still alive.
    arm.get(&id, NET).await.expect_err(404, "ResourceNotFound");
}

#[tokio::test]
async fn lists_page_with_next_link() {
    let arm = Arm::with(EmulatorConfig {
        polls_to_complete: 0,
        retry_after_secs: 0,
        page_size: 2,
        ..Default::default()
    })
    .await;
    for i in 0..5 {
        arm.put_ok(
            &arm.rid(&format!("Microsoft.Network/networkSecurityGroups/nsg{i}")),
            NET,
            json!({"location": "eastus"}),
        )
        .await;
    }
    let mut names = Vec::new();
    let mut page = arm
        .get(&arm.rid("Microsoft.Network/networkSecurityGroups"), NET)
        .await;
    let mut pages = 0;
    loop {
        page.expect(200);
        pages += 1;
        for v in page.body["value"].as_array().unwrap() {
            names.push(v["name"].as_str().unwrap().to_string());
        }
        match page.body.get("nextLink").and_then(Value::as_str) {
            Some(next) => {
                assert!(next.starts_with(arm.base()), "absolute nextLink: {next}");
                page = arm.get_abs(next).await;
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, vec!["nsg0", "nsg1", "nsg2", "nsg3", "nsg4"]);
    // Children page too.
    let subnets: Vec<Value> = (0..3).map(|i| json!({"name": format!("s{i}"), "properties": {"addressPrefix": format!("10.10.{i}.0/24")}})).collect();
    arm.put_ok(&arm.vnet_id("v"), NET, vnet_body(Value::Array(subnets)))
        .await;
    let p1 = arm.get(&format!("{}/subnets", arm.vnet_id("v")), NET).await;
    assert_eq!(p1.body["value"].as_array().map(Vec::len), Some(2));
    let p2 = arm.get_abs(p1.str("/nextLink")).await;
    assert_eq!(p2.body["value"].as_array().map(Vec::len), Some(1));
    assert_eq!(p2.str("/value/0/name"), "s2");
    assert!(p2.body.get("nextLink").is_none());
    // Subscription-wide list.
    let all = arm
        .get(
            &format!("/subscriptions/{SUB}/providers/Microsoft.Network/networkSecurityGroups"),
            NET,
        )
        .await;
    assert_eq!(all.body["value"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn private_dns_honours_if_match_and_if_none_match() {
    let arm = Arm::new(0).await;
    let id = arm.zone_id("privatelink.api.azureml.ms");
    let url = arm.url(&id, Some(DNS));
    let body = json!({"location": "global"});
    // If-Match on an absent zone: 412.
    arm.send(arm.http.put(&url).header("If-Match", "*").json(&body))
        .await
        .expect_err(412, "PreconditionFailed");
    let c = arm
        .send(arm.http.put(&url).header("If-None-Match", "*").json(&body))
        .await;
    c.expect(201);
    assert!(c.header("location").is_some() && c.header("azure-asyncoperation").is_some());
    arm.send(arm.http.put(&url).header("If-None-Match", "*").json(&body))
        .await
        .expect_err(412, "PreconditionFailed");
    let g = arm.get(&id, DNS).await;
    let etag = g.str("/etag").to_string();
    assert!(
        !etag.is_empty() && !etag.starts_with("W/"),
        "strong etag {etag}"
    );
    assert_eq!(g.header("etag").as_deref(), Some(etag.as_str()));
    assert_eq!(g.str("/location"), "global");
    assert_eq!(g.body["properties"]["numberOfRecordSets"], json!(1), "SOA");
    arm.send(
        arm.http
            .put(&url)
            .header("If-Match", "\"other\"")
            .json(&body),
    )
    .await
    .expect_err(412, "PreconditionFailed");
    let ok = arm
        .send(
            arm.http
                .put(&url)
                .header("If-Match", format!("\"{etag}\""))
                .json(&json!({"location": "global", "tags": {"x": "y"}})),
        )
        .await;
    ok.expect(200);
    assert_ne!(ok.str("/etag"), etag, "a write changes the etag");
    arm.send(arm.http.delete(&url).header("If-Match", etag.as_str()))
        .await
        .expect_err(412, "PreconditionFailed");
    arm.send(
        arm.http
            .patch(&url)
            .header("If-Match", etag.as_str())
            .json(&json!({"tags": {}})),
    )
    .await
    .expect_err(412, "PreconditionFailed");
    let cur = arm.get(&id, DNS).await.str("/etag").to_string();
    arm.send(arm.http.delete(&url).header("If-Match", cur.as_str()))
        .await
        .expect(202);
    // Location other than global is refused.
    arm.put(
        &arm.zone_id("other.example"),
        DNS,
        json!({"location": "eastus"}),
    )
    .await
    .expect_err(400, "LocationNotAvailableForResourceType");
}

#[tokio::test]
async fn throttle_and_error_faults() {
    let arm = Arm::new(0).await;
    let id = arm.vnet_id("v");
    // Through the admin HTTP API, in both accepted shapes.
    let r = arm
        .admin_put(
            "faults",
            json!([
                {"method": "PUT", "resourceType": "microsoft.network/VIRTUALNETWORKS", "fault": {"kind": "throttle", "retryAfterSeconds": 7}, "times": 1},
                {"method": "GET", "pathContains": "/virtualNetworks/v", "fault": {"error": {"status": 500, "code": "InternalServerError", "message": "boom"}}, "times": 2}
            ]),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["rules"].as_array().map(Vec::len), Some(2));
    let t = arm.put(&id, NET, vnet_body(json!([]))).await;
    t.expect(429);
    assert_eq!(t.header("retry-after").as_deref(), Some("7"));
    assert_eq!(t.code(), "SubscriptionRequestsThrottled");
    arm.put(&id, NET, vnet_body(json!([]))).await.expect(201);
    arm.get(&id, NET)
        .await
        .expect_err(500, "InternalServerError");
    arm.get(&id, NET)
        .await
        .expect_err(500, "InternalServerError");
    arm.get(&id, NET).await.expect(200);
    let rules = arm.admin_get("faults").await;
    assert_eq!(rules.body["rules"][0]["fired"], json!(1));
    assert_eq!(rules.body["rules"][1]["fired"], json!(2));
    arm.admin_delete("faults").await.expect(204);
    assert_eq!(arm.admin_get("faults").await.body["rules"], json!([]));
}

#[tokio::test]
async fn delay_fault_and_latency() {
    let arm = Arm::new(0).await;
    let id = arm.vnet_id("v");
    arm.emu.admin.add_fault(FaultRule {
        id: 0,
        method: Some("GET".into()),
        resource_type: None,
        path_contains: None,
        fault: Fault::Delay { millis: 250 },
        times: Some(1),
        fired: 0,
        probability: None,
        seed: 0,
        considered: 0,
    });
    let t0 = Instant::now();
    arm.get(&id, NET).await.expect_err(404, "ResourceNotFound");
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "delayed {:?}",
        t0.elapsed()
    );
    let t1 = Instant::now();
    arm.get(&id, NET).await;
    assert!(t1.elapsed() < Duration::from_millis(250));
    arm.admin_put("config", json!({"latencyMs": 120}))
        .await
        .expect(200);
    let t2 = Instant::now();
    arm.get(&id, NET).await;
    assert!(t2.elapsed() >= Duration::from_millis(120));
    let log = arm.emu.admin.requests(None);
    assert_eq!(log.entries[0].faults, vec!["delay".to_string()]);
    assert!(log.entries[0].duration_ms >= 250.0);
}

#[tokio::test]
async fn fail_lro_fault_fails_the_operation() {
    let arm = Arm::new(1).await;
    arm.admin_post("faults", json!({"method": "PUT", "resourceType": "Microsoft.Network/virtualNetworks/subnets", "fault": {"failLro": {"code": "InternalServerError", "message": "subnet broke"}}, "times": 1}))
        .await
        .expect(201);
    arm.vnet("v", &[]).await;
    let sid = arm.subnet_id("v", "s1");
    let r = arm
        .put(
            &sid,
            NET,
            json!({"properties": {"addressPrefix": "10.10.1.0/24"}}),
        )
        .await;
    r.expect(201);
    let done = arm.wait(&r).await;
    assert_eq!(done.str("/status"), "Failed");
    assert_eq!(done.str("/error/code"), "InternalServerError");
    assert_eq!(done.str("/error/message"), "subnet broke");
    assert_eq!(arm.get(&sid, NET).await.prov(), "Failed");
    // The next write succeeds (times: 1).
    arm.put_ok(
        &sid,
        NET,
        json!({"properties": {"addressPrefix": "10.10.1.0/24"}}),
    )
    .await;
    // A failing delete: Location poll answers the error, the resource stays Failed.
    arm.emu.admin.add_fault(FaultRule {
        id: 0,
        method: Some("DELETE".into()),
        resource_type: None,
        path_contains: Some("/subnets/s1".into()),
        fault: Fault::FailLro {
            code: "Conflict".into(),
            message: "nope".into(),
            status: Some(409),
        },
        times: Some(1),
        fired: 0,
        probability: None,
        seed: 0,
        considered: 0,
    });
    let d = arm.delete(&sid, NET).await;
    d.expect(202);
    let loc = d.header("location").unwrap();
    arm.get_abs(&loc).await.expect(202);
    arm.get_abs(&loc).await.expect_err(409, "Conflict");
    assert_eq!(arm.get(&sid, NET).await.prov(), "Failed");
    let log = arm.emu.admin.requests(None);
    assert!(
        log.entries
            .iter()
            .any(|e| e.faults == vec!["failLro".to_string()])
    );
}

#[tokio::test]
async fn request_log_counts_and_cursor() {
    let arm = Arm::new(0).await;
    arm.vnet("v", &[("a", "10.10.1.0/24")]).await;
    arm.put(
        &arm.subnet_id("v", "b"),
        NET,
        json!({"properties": {"addressPrefix": "10.10.2.0/24"}}),
    )
    .await
    .expect(201);
    arm.get(&arm.subnet_id("v", "b"), NET).await.expect(200);
    let log = arm.admin_get("requests").await;
    log.expect(200);
    let counts = &log.body["counts"];
    assert_eq!(
        counts["byMethodAndType"]["PUT Microsoft.Network/virtualNetworks/subnets"],
        json!(1)
    );
    assert_eq!(
        counts["byMethodAndType"]["PUT Microsoft.Network/virtualNetworks"],
        json!(1)
    );
    assert_eq!(counts["byMethod"]["PUT"], json!(2));
    assert_eq!(counts["byStatus"]["201"], json!(2));
    assert!(
        counts["byMethodAndType"]["GET Microsoft.Network/locations/operations"]
            .as_u64()
            .unwrap_or(0)
            >= 1
    );
    arm.admin_get("nope").await.expect_err(404, "NotFound");
    let log = arm.admin_get("requests").await;
    let entries = log.body["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .all(|e| !e["path"].as_str().unwrap().starts_with("/_emulator")),
        "admin calls are not logged"
    );
    let first = &entries[0];
    assert_eq!(first["method"], "PUT");
    assert_eq!(first["resourceType"], "Microsoft.Network/virtualNetworks");
    assert_eq!(first["status"], 201);
    assert!(first["time"].as_str().unwrap().ends_with('Z'));
    let last = log.body["lastSeq"].as_u64().unwrap();
    arm.get(&arm.vnet_id("v"), NET).await;
    let newer = arm.admin_get(&format!("requests?since={last}")).await;
    assert_eq!(newer.body["total"], json!(1));
    assert_eq!(newer.body["counts"]["byMethod"], json!({"GET": 1}));
    arm.admin_delete("requests").await.expect(204);
    assert_eq!(arm.admin_get("requests").await.body["total"], json!(0));
}

#[tokio::test]
async fn state_dump_settle_reset_and_drift() {
    let arm = Arm::new(5).await;
    let nsg = arm.rid("Microsoft.Network/networkSecurityGroups/nsg1");
    let r = arm
        .put(
            &nsg,
            NET,
            json!({"location": "eastus", "properties": {"securityRules": [
                {"name": "r1", "properties": {"priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp", "sourceAddressPrefix": "*", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "443"}}
            ]}}),
        )
        .await;
    r.expect(201);
    let st = arm.admin_get("state").await;
    st.expect(200);
    let res = st.body["resources"].as_array().unwrap();
    let n = res
        .iter()
        .find(|x| x["type"] == "Microsoft.Network/networkSecurityGroups")
        .unwrap();
    assert_eq!(n["provisioningState"], "Updating");
    assert_eq!(
        n["resource"]["properties"]["securityRules"][0]["name"],
        "r1"
    );
    assert!(
        res.iter()
            .any(|x| x["type"] == "Microsoft.Network/networkSecurityGroups/securityRules")
    );
    assert_eq!(st.body["operations"][0]["status"], "InProgress");
    assert_eq!(st.body["resourceGroups"][0]["name"], RG);
    let filtered = arm
        .admin_get("state?type=microsoft.network/networksecuritygroups/securityrules")
        .await;
    assert_eq!(filtered.body["resources"].as_array().map(Vec::len), Some(1));
    // Settle completes everything.
    assert_eq!(
        arm.admin_post("settle", json!({})).await.body["completed"],
        json!(1)
    );
    assert_eq!(arm.get(&nsg, NET).await.prov(), "Succeeded");
    // Drift: delete a rule behind ARM's back, flip a property, seed a resource.
    let del = arm
        .admin_delete(&format!("resources?id={nsg}/securityRules/r1"))
        .await;
    assert_eq!(del.body["deleted"], json!(true));
    assert_eq!(
        arm.get(&nsg, NET).await.body["properties"]["securityRules"],
        json!([])
    );
    arm.storage("sa1").await;
    let flip = arm
        .admin_post("resources", json!({"id": arm.storage_id("sa1"), "patch": {"properties": {"networkAcls": {"defaultAction": "Allow"}, "publicNetworkAccess": "Enabled"}}}))
        .await;
    flip.expect(200);
    let g = arm.get(&arm.storage_id("sa1"), ST).await;
    assert_eq!(g.str("/properties/publicNetworkAccess"), "Enabled");
    assert_eq!(g.str("/properties/networkAcls/defaultAction"), "Allow");
    let seeded = arm
        .admin_post("resources", json!({"id": arm.rid("Microsoft.Network/routeTables/rt-seeded"), "body": {"location": "eastus", "properties": {"routes": [{"name": "x", "properties": {"addressPrefix": "0.0.0.0/0", "nextHopType": "Internet"}}]}}, "provisioningState": "Failed"}))
        .await;
    seeded.expect(200);
    assert_eq!(seeded.prov(), "Failed");
    assert_eq!(seeded.str("/properties/routes/0/name"), "x");
    arm.admin_post("resources", json!({"id": "/nope"}))
        .await
        .expect(400);
    arm.admin_post(
        "resource-groups",
        json!({"subscriptionId": SUB2, "name": "rg2"}),
    )
    .await
    .expect(201);
    arm.get(&format!("/subscriptions/{SUB2}/resourceGroups/rg2"), RGV)
        .await
        .expect(200);
    arm.admin_post("reset", json!({})).await.expect(204);
    let after = arm.admin_get("state").await;
    assert_eq!(after.body["resources"], json!([]));
    assert_eq!(
        after.body["resourceGroups"].as_array().map(Vec::len),
        Some(1),
        "configured groups come back"
    );
}

#[tokio::test]
async fn another_operation_in_progress_on_one_parent() {
    let arm = Arm::new(1).await;
    arm.vnet("v", &[]).await;
    let a = arm
        .put(
            &arm.subnet_id("v", "a"),
            NET,
            json!({"properties": {"addressPrefix": "10.10.1.0/24"}}),
        )
        .await;
    a.expect(201);
    let b = arm
        .put(
            &arm.subnet_id("v", "b"),
            NET,
            json!({"properties": {"addressPrefix": "10.10.2.0/24"}}),
        )
        .await;
    b.expect_err(409, "AnotherOperationInProgress");
    assert!(
        b.message().starts_with("Another operation on this or dependent resource is in progress. To retrieve status of the operation use uri: http"),
        "{}",
        b.message()
    );
    assert!(b.message().contains("/operations/"));
    // The parent and the subnet itself are locked too; reads are not.
    arm.put(
        &arm.vnet_id("v"),
        NET,
        vnet_body(json!([{"name": "a", "properties": {"addressPrefix": "10.10.1.0/24"}}])),
    )
    .await
    .expect_err(409, "AnotherOperationInProgress");
    arm.delete(&arm.subnet_id("v", "a"), NET)
        .await
        .expect_err(409, "AnotherOperationInProgress");
    arm.get(&arm.vnet_id("v"), NET).await.expect(200);
    // Other parents are not affected.
    arm.put(
        &arm.rid("Microsoft.Network/networkSecurityGroups/n"),
        NET,
        json!({"location": "eastus"}),
    )
    .await
    .expect(201);
    // Once the operation is done, the second write goes through.
    arm.wait(&a).await;
    arm.put(
        &arm.subnet_id("v", "b"),
        NET,
        json!({"properties": {"addressPrefix": "10.10.2.0/24"}}),
    )
    .await
    .expect(201);

    // Truly concurrent writers: exactly one wins.
    arm.emu.admin.settle();
    let (sc, sd) = (arm.subnet_id("v", "c"), arm.subnet_id("v", "d"));
    let (x, y) = tokio::join!(
        arm.put(
            &sc,
            NET,
            json!({"properties": {"addressPrefix": "10.10.3.0/24"}})
        ),
        arm.put(
            &sd,
            NET,
            json!({"properties": {"addressPrefix": "10.10.4.0/24"}})
        ),
    );
    let mut statuses = [x.status, y.status];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{} / {}", x.body, y.body);
    // A rule while its NSG is updating.
    let nsg = arm.rid("Microsoft.Network/networkSecurityGroups/n");
    arm.emu.admin.settle();
    arm.put(&nsg, NET, json!({"location": "eastus"}))
        .await
        .expect(200);
    arm.put(
        &format!("{nsg}/securityRules/r"),
        NET,
        json!({"properties": {"priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "*"}}),
    )
    .await
    .expect_err(409, "AnotherOperationInProgress");
}

#[tokio::test]
async fn arm_headers_and_rate_limits() {
    let arm = Arm::with(EmulatorConfig {
        polls_to_complete: 0,
        retry_after_secs: 0,
        enforce_rate_limits: true,
        ..Default::default()
    })
    .await;
    let id = arm.vnet_id("v");
    let r = arm
        .send(
            arm.http
                .get(arm.url(&id, Some(NET)))
                .header("x-ms-client-request-id", "client-1")
                .header("x-ms-correlation-request-id", "corr-1"),
        )
        .await;
    assert!(r.header("x-ms-request-id").is_some_and(|v| v.len() == 36));
    assert_eq!(
        r.header("x-ms-client-request-id").as_deref(),
        Some("client-1")
    );
    assert_eq!(
        r.header("x-ms-correlation-request-id").as_deref(),
        Some("corr-1")
    );
    let reads: u64 = r
        .header("x-ms-ratelimit-remaining-subscription-reads")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(reads, 249);
    let w = arm.put(&id, NET, vnet_body(json!([]))).await;
    assert_eq!(
        w.header("x-ms-ratelimit-remaining-subscription-writes")
            .as_deref(),
        Some("199")
    );
    let d = arm.delete(&id, NET).await;
    assert_eq!(
        d.header("x-ms-ratelimit-remaining-subscription-deletes")
            .as_deref(),
        Some("199")
    );
    // Drain the read bucket: 429 with Retry-After.
    let mut throttled = None;
    for _ in 0..1500 {
        let g = arm.get(&id, NET).await;
        if g.status == 429 {
            throttled = Some(g);
            break;
        }
    }
    let t = throttled.expect("the read bucket runs dry");
    assert_eq!(t.code(), "SubscriptionRequestsThrottled");
    assert!(t.header("retry-after").is_some());
    // Another subscription has its own bucket.
    arm.get(&format!("/subscriptions/{SUB2}"), "2022-12-01")
        .await
        .expect(200);
}

#[tokio::test]
async fn bearer_token_is_required_when_configured() {
    let arm = Arm::with(EmulatorConfig {
        polls_to_complete: 0,
        require_token: Some("s3cret".into()),
        ..Default::default()
    })
    .await;
    let url = arm.url(&arm.vnet_id("v"), Some(NET));
    let none = arm.send(arm.http.get(&url)).await;
    none.expect_err(401, "AuthenticationFailed");
    assert!(none.header("www-authenticate").is_some());
    arm.send(arm.http.get(&url).bearer_auth("wrong"))
        .await
        .expect_err(401, "InvalidAuthenticationToken");
    arm.send(arm.http.get(&url).header("authorization", "Basic abc"))
        .await
        .expect_err(401, "AuthenticationFailed");
    arm.send(arm.http.get(&url).bearer_auth("s3cret"))
        .await
        .expect_err(404, "ResourceNotFound");
    // The admin API stays open.
    arm.admin_get("state").await.expect(200);
    let log = arm.emu.admin.requests(None);
    assert_eq!(log.counts.by_status.get("401"), Some(&3));
}

#[tokio::test]
async fn config_changes_apply_at_run_time() {
    let arm = Arm::new(2).await;
    let cfg = arm
        .admin_put(
            "config",
            json!({"pollsToComplete": 0, "retryAfterSecs": 4, "pageSize": 1}),
        )
        .await;
    cfg.expect(200);
    assert_eq!(cfg.body["pollsToComplete"], json!(0));
    let r = arm.put(&arm.vnet_id("v"), NET, vnet_body(json!([]))).await;
    assert_eq!(r.prov(), "Succeeded");
    assert_eq!(r.header("retry-after").as_deref(), Some("4"));
    arm.admin_put("config", json!({"bogus": 1}))
        .await
        .expect(400);
    assert_eq!(arm.admin_get("config").await.body["pageSize"], json!(1));
    // Time-based completion for callers that never poll.
    arm.admin_put(
        "config",
        json!({"pollsToComplete": 100, "lroMaxDurationMs": 50}),
    )
    .await
    .expect(200);
    let r = arm.put(&arm.vnet_id("w"), NET, vnet_body(json!([]))).await;
    assert_eq!(r.prov(), "Updating");
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(arm.get(&arm.vnet_id("w"), NET).await.prov(), "Succeeded");
}

#[tokio::test]
async fn serve_with_shutdown_on_own_listener() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let emu = moat::emulator::Emulator::new(EmulatorConfig::default());
    emu.seed_resource_group(SUB, RG, None);
    let tls = moat::emulator::EmulatorTls::generate().unwrap();
    let http = moat::azure::ExtraTrust::from_pem(tls.ca_pem().as_bytes())
        .unwrap()
        .apply(reqwest::Client::builder())
        .build()
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server_tls = tls.clone();
    let task = tokio::spawn(async move {
        moat::emulator::serve_with_shutdown(listener, emu.clone(), &server_tls, async move {
            let _ = rx.await;
        })
        .await
    });
    let url = format!("https://{addr}/subscriptions/{SUB}/resourceGroups/{RG}?api-version={RGV}");
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // HTTPS only, with a certificate for 127.0.0.1 and localhost, from the emulator's own CA.
    let localhost = url.replace("127.0.0.1", "localhost");
    assert_eq!(http.get(&localhost).send().await.unwrap().status().as_u16(), 200);
    assert!(reqwest::get(url.replace("https://", "http://")).await.is_err(), "no plain HTTP");
    assert!(reqwest::get(&url).await.is_err(), "untrusted without the emulator's CA");
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops")
        .unwrap()
        .unwrap();
}

/// Per-request cost, for benchmark planning: `cargo test --test emulator_protocol latency -- --ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn latency_figures() {
    let arm = Arm::new(0).await;
    arm.vnet(
        "v",
        &[
            ("a", "10.10.1.0/24"),
            ("b", "10.10.2.0/24"),
            ("c", "10.10.3.0/24"),
        ],
    )
    .await;
    let id = arm.vnet_id("v");
    let mut gets = Vec::new();
    for _ in 0..1000 {
        let t = Instant::now();
        arm.get(&id, NET).await.expect(200);
        gets.push(t.elapsed());
    }
    let mut puts = Vec::new();
    for i in 0..300 {
        let t = Instant::now();
        arm.put(
            &arm.rid(&format!("Microsoft.Network/networkSecurityGroups/n{i}")),
            NET,
            json!({"location": "eastus"}),
        )
        .await
        .expect(201);
        puts.push(t.elapsed());
    }
    for (name, mut v) in [("GET vnet", gets), ("PUT nsg", puts)] {
        v.sort();
        let mean = v.iter().sum::<Duration>() / v.len() as u32;
        println!(
            "{name}: n={} mean={:?} p50={:?} p99={:?}",
            v.len(),
            mean,
            v[v.len() / 2],
            v[v.len() * 99 / 100]
        );
    }
    let log = arm.emu.admin.requests(None);
    let server: f64 =
        log.entries.iter().map(|e| e.duration_ms).sum::<f64>() / log.entries.len() as f64;
    println!(
        "server-side mean {server:.3} ms over {} requests",
        log.entries.len()
    );
}
