//! The emulator keeps Azure's Activity Log (an event for every change) and serves the Activity
//! Logs List API (`GET .../providers/Microsoft.Insights/eventtypes/management/values`,
//! api-version 2015-04-01), which moat reads to learn what was written since it last looked.

mod emulator_support;

use std::time::Duration;

use emulator_support::{Arm, NET, RG, RGV, Resp, SUB};
use jiff::Timestamp;
use moat::emulator::ratelimit::ClassLimits;
use moat::emulator::{ArmLimits, Clock, EmulatorConfig, Fault, FaultRule, Limit};
use serde_json::{Value, json};

const ACTIVITY: &str = "2015-04-01";

fn activity_path() -> String {
    format!("/subscriptions/{SUB}/providers/Microsoft.Insights/eventtypes/management/values")
}

/// `url` with the query parameters, form-encoded.
fn with_query(url: &str, q: &[(&str, &str)]) -> String {
    url::Url::parse_with_params(url, q).expect("a URL").to_string()
}

fn window(from: Timestamp, to: Timestamp) -> String {
    format!("eventTimestamp ge '{from}' and eventTimestamp le '{to}'")
}

fn vnet_body() -> Value {
    json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.10.0.0/16"]}, "subnets": []}})
}

impl Arm {
    async fn activity(&self, filter: Option<&str>, select: Option<&str>) -> Resp {
        let mut q: Vec<(&str, &str)> = vec![("api-version", ACTIVITY)];
        if let Some(f) = filter {
            q.push(("$filter", f));
        }
        if let Some(s) = select {
            q.push(("$select", s));
        }
        self.send(self.http.get(with_query(&format!("{}{}", self.base(), activity_path()), &q))).await
    }

    /// The events of the resource group between `from` and now, following every nextLink.
    async fn rg_events(&self, from: Timestamp) -> Vec<Value> {
        let f = format!("{} and resourceGroupName eq '{RG}'", window(from, Timestamp::now()));
        let mut r = self.activity(Some(&f), None).await;
        let mut all = Vec::new();
        loop {
            r.expect(200);
            all.extend(r.body["value"].as_array().cloned().unwrap_or_default());
            let Some(next) = r.body["nextLink"].as_str().map(str::to_string) else {
                return all;
            };
            r = self.get_abs(&next).await;
        }
    }
}

fn field<'a>(e: &'a Value, pointer: &str) -> &'a str {
    e.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn time_of(e: &Value) -> Timestamp {
    field(e, "/eventTimestamp").parse().expect("eventTimestamp is RFC 3339")
}

#[tokio::test]
async fn a_vnet_write_is_logged_with_its_operation_and_found_by_time() {
    let arm = Arm::new(1).await;
    let before = Timestamp::now();
    let id = arm.vnet_id("vnet-a");
    let put = arm
        .send(arm.http.put(arm.url(&id, Some(NET))).header("x-ms-correlation-request-id", "corr-put-1").json(&vnet_body()))
        .await;
    put.expect(201);
    let done = arm.wait(&put).await;
    assert_eq!(done.str("/status"), "Succeeded");
    let after = Timestamp::now();

    let f = format!("{} and resourceGroupName eq '{RG}'", window(before, after));
    let r = arm.activity(Some(&f), None).await;
    r.expect(200);
    let events = r.body["value"].as_array().cloned().unwrap_or_default();
    let statuses: Vec<&str> = events.iter().map(|e| field(e, "/status/value")).collect();
    assert_eq!(statuses, ["Succeeded", "Started"], "newest first: {}", r.body);
    for e in &events {
        assert_eq!(field(e, "/resourceId"), id);
        assert_eq!(field(e, "/operationName/value"), "Microsoft.Network/virtualNetworks/write");
        assert_eq!(field(e, "/authorization/action"), "Microsoft.Network/virtualNetworks/write");
        assert_eq!(field(e, "/resourceType/value"), "Microsoft.Network/virtualNetworks");
        assert_eq!(field(e, "/resourceProviderName/value"), "Microsoft.Network");
        assert_eq!(field(e, "/resourceGroupName"), RG);
        assert_eq!(field(e, "/subscriptionId"), SUB);
        assert_eq!(field(e, "/category/value"), "Administrative");
        assert_eq!(field(e, "/correlationId"), "corr-put-1");
        assert_eq!(field(e, "/caller"), "anonymous");
        let t = time_of(e);
        assert!(before <= t && t <= after, "{t} in [{before}, {after}]");
        assert_eq!(field(e, "/submissionTimestamp"), field(e, "/eventTimestamp"));
        assert!(field(e, "/id").starts_with(&format!("{id}/events/{}/ticks/", field(e, "/eventDataId"))));
    }
    assert_eq!(field(&events[0], "/operationId"), field(&events[1], "/operationId"), "one operation");
    assert_eq!(field(&events[1], "/subStatus/value"), "Created");
    println!("{}", serde_json::to_string_pretty(&events[0]).unwrap_or_default());

    // A window that ends before the PUT has none.
    let early = format!("{} and resourceGroupName eq '{RG}'", window(before - Duration::from_secs(3600), before - Duration::from_secs(1)));
    let r = arm.activity(Some(&early), None).await;
    r.expect(200);
    assert_eq!(r.body["value"], json!([]), "{}", r.body);
    assert!(r.body.get("nextLink").is_none());

    // The other filters find it too; another resource group, provider or correlation does not.
    let count = |r: &Resp| r.body["value"].as_array().map(Vec::len).unwrap_or(0);
    let w = window(before, after);
    for (clause, n) in [
        (format!("resourceUri eq '{}'", id.to_uppercase()), 2),
        ("resourceProvider eq 'microsoft.network'".to_string(), 2),
        ("resourceProvider eq 'Microsoft.Storage'".to_string(), 0),
        ("correlationId eq 'corr-put-1'".to_string(), 2),
        ("correlationId eq 'other'".to_string(), 0),
        ("resourceGroupName eq 'rg-other'".to_string(), 0),
    ] {
        let r = arm.activity(Some(&format!("{w} and {clause}")), None).await;
        r.expect(200);
        assert_eq!(count(&r), n, "{clause}: {}", r.body);
    }
    // `le` left out: until now.
    let r = arm.activity(Some(&format!("eventTimestamp ge '{before}'")), None).await;
    assert_eq!(count(r.expect(200)), 2);

    // $select keeps the named fields.
    let r = arm.activity(Some(&f), Some("eventTimestamp,resourceId,operationName,status")).await;
    r.expect(200);
    for e in r.body["value"].as_array().cloned().unwrap_or_default() {
        let mut keys: Vec<String> = e.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
        keys.sort();
        assert_eq!(keys, ["eventTimestamp", "operationName", "resourceId", "status"]);
    }

    // The admin view has the same events, and the request log has the list requests.
    let admin = arm.admin_get("activity").await;
    admin.expect(200);
    assert_eq!(admin.body["value"].as_array().map(Vec::len), Some(2));
    assert_eq!(arm.emu.admin.activity_events().len(), 2);
    let log = arm.emu.admin.requests(None);
    assert!(log.entries.iter().any(|e| e.method == "GET" && e.path.contains("/eventtypes/management/values") && e.status == 200 && e.resource_type.as_deref() == Some("Microsoft.Insights/eventtypes")));
}

#[tokio::test]
async fn admin_changes_deletes_and_children_are_logged() {
    let arm = Arm::new(0).await;
    let start = Timestamp::now();
    let id = arm.vnet_id("vnet-b");
    arm.put_ok(&id, NET, vnet_body()).await;
    arm.put_ok(&format!("{id}/subnets/snet-1"), NET, json!({"properties": {"addressPrefix": "10.10.1.0/24"}})).await;

    // "Someone changed it in the portal."
    arm.emu.admin.patch_resource(&id, json!({"tags": {"changed": "portal"}}), None).expect("patched");
    let newest = arm.rg_events(start).await;
    let e = &newest[0];
    assert_eq!(field(e, "/caller"), "emulator-admin");
    assert_eq!(field(e, "/status/value"), "Succeeded");
    assert_eq!(field(e, "/operationName/value"), "Microsoft.Network/virtualNetworks/write");
    assert_eq!(field(e, "/resourceId"), id);

    // resourceUri also finds what is under the resource.
    let r = arm.activity(Some(&format!("eventTimestamp ge '{start}' and resourceUri eq '{id}'")), None).await;
    r.expect(200);
    let ids: Vec<&str> = r.body["value"].as_array().map(|v| v.iter().map(|e| field(e, "/resourceId")).collect()).unwrap_or_default();
    assert!(ids.contains(&format!("{id}/subnets/snet-1").as_str()), "{ids:?}");
    assert!(ids.iter().all(|i| i.starts_with(&id)));

    // A DELETE through ARM: its request (202) and its operation's end.
    let since = Timestamp::now();
    arm.delete_ok(&id, NET).await;
    let dels = arm.rg_events(since).await;
    let got: Vec<(&str, &str)> = dels.iter().map(|e| (field(e, "/operationName/value"), field(e, "/status/value"))).collect();
    assert_eq!(
        got,
        [("Microsoft.Network/virtualNetworks/delete", "Succeeded"), ("Microsoft.Network/virtualNetworks/delete", "Accepted")],
        "{dels:?}"
    );
    assert!(dels.iter().all(|e| field(e, "/resourceId") == id));

    // Admin deletes and resource-group seeding.
    let sa = arm.storage_id("sa2");
    arm.emu.admin.put_resource(&sa, json!({"location": "eastus", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}, "properties": {}}), None).expect("seeded");
    assert!(arm.emu.admin.delete_resource(&sa));
    arm.admin_post("resource-groups", json!({"subscriptionId": SUB, "name": "rg-seeded"})).await.expect(201);
    let all = arm.emu.admin.activity_events();
    let top: Vec<(&str, &str, &str)> = all[..3].iter().map(|e| (field(e, "/operationName/value"), field(e, "/resourceId"), field(e, "/caller"))).collect();
    assert_eq!(
        top,
        [
            ("Microsoft.Resources/subscriptions/resourceGroups/write", format!("/subscriptions/{SUB}/resourceGroups/rg-seeded").as_str(), "emulator-admin"),
            ("Microsoft.Storage/storageAccounts/delete", sa.as_str(), "emulator-admin"),
            ("Microsoft.Storage/storageAccounts/write", sa.as_str(), "emulator-admin"),
        ]
    );

    // A failed write is logged Failed, with the error.
    let bad = arm.put(&arm.vnet_id("vnet-bad"), NET, json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["not-a-cidr"]}}})).await;
    assert!(bad.status >= 400, "{}", bad.body);
    let e = &arm.emu.admin.activity_events()[0];
    assert_eq!(field(e, "/status/value"), "Failed");
    assert_eq!(field(e, "/level"), "Error");
    assert!(field(e, "/properties/statusMessage").contains(bad.code()), "{e}");

    // A resource-group delete through ARM.
    let rg = format!("/subscriptions/{SUB}/resourcegroups/rg-seeded");
    arm.delete_ok(&rg, RGV).await;
    let e = &arm.emu.admin.activity_events()[0];
    assert_eq!(field(e, "/operationName/value"), "Microsoft.Resources/subscriptions/resourceGroups/delete");
    assert_eq!(field(e, "/status/value"), "Succeeded");
    assert_eq!(field(e, "/resourceId"), format!("/subscriptions/{SUB}/resourceGroups/rg-seeded"));

    // Reset clears the log.
    arm.emu.admin.reset();
    assert!(arm.emu.admin.activity_events().is_empty());
}

#[tokio::test]
async fn pages_follow_the_absolute_next_link() {
    let arm = Arm::with(EmulatorConfig { polls_to_complete: 0, retry_after_secs: 0, page_size: 2, ..Default::default() }).await;
    let start = Timestamp::now();
    for i in 0..3 {
        arm.emu.admin.put_resource(&arm.vnet_id(&format!("v{i}")), vnet_body(), None).expect("seeded");
    }
    let f = format!("eventTimestamp ge '{start}' and resourceGroupName eq '{RG}'");
    let first = arm.activity(Some(&f), Some("eventTimestamp,resourceId")).await;
    first.expect(200);
    assert_eq!(first.body["value"].as_array().map(Vec::len), Some(2));
    let next = first.body["nextLink"].as_str().expect("a nextLink").to_string();
    assert!(next.starts_with(&format!("{}{}?", arm.base(), activity_path())), "{next}");
    assert!(next.starts_with("https://"));
    assert!(next.contains("api-version=2015-04-01") && next.contains("$skiptoken=") && next.contains("$filter=eventTimestamp%20ge%20"), "{next}");
    // Another change between the pages does not shift them.
    arm.emu.admin.put_resource(&arm.vnet_id("v9"), vnet_body(), None).expect("seeded");
    let second = arm.get_abs(&next).await;
    second.expect(200);
    let rest = second.body["value"].as_array().cloned().unwrap_or_default();
    assert_eq!(rest.len(), 1, "{}", second.body);
    assert!(second.body.get("nextLink").is_none());
    assert_eq!(rest[0].as_object().map(|m| m.len()), Some(2), "$select carried over");
    let mut ids: Vec<&str> = first.body["value"].as_array().map(|v| v.iter().map(|e| field(e, "/resourceId")).collect()).unwrap_or_default();
    ids.push(field(&rest[0], "/resourceId"));
    assert_eq!(ids, [arm.vnet_id("v2"), arm.vnet_id("v1"), arm.vnet_id("v0")]);
}

#[tokio::test]
async fn bad_requests_answer_400_naming_the_problem() {
    let arm = Arm::new(0).await;
    let r = arm.activity(None, None).await;
    r.expect_err(400, "BadRequest");
    assert!(r.message().contains("$filter"), "{}", r.message());
    let r = arm.activity(Some("eventTimestamp le '2026-01-01T00:00:00Z'"), None).await;
    r.expect_err(400, "BadRequest");
    assert!(r.message().contains("eventTimestamp ge"), "{}", r.message());
    let r = arm.activity(Some("eventTimestamp ge '2026-01-01T00:00:00Z' and status eq 'Failed'"), None).await;
    r.expect_err(400, "BadRequest");
    assert!(r.message().contains("status eq"), "{}", r.message());
    let wrong = arm.send(arm.http.get(with_query(&format!("{}{}", arm.base(), activity_path()), &[("api-version", "2024-01-01"), ("$filter", "eventTimestamp ge '2026-01-01T00:00:00Z'")]))).await;
    wrong.expect_err(400, "NoRegisteredProviderFound");
    let post = arm.send(arm.http.post(with_query(&format!("{}{}", arm.base(), activity_path().to_lowercase()), &[("api-version", ACTIVITY)]))).await;
    post.expect_err(405, "MethodNotAllowed");
}

#[tokio::test]
async fn reads_throttled_and_unauthenticated_requests_record_nothing() {
    let per = ClassLimits { reads: Limit::bucket(1000, 1.0), writes: Limit::bucket(1, 0.001), deletes: Limit::bucket(10, 1.0) };
    let cfg = EmulatorConfig {
        polls_to_complete: 0,
        retry_after_secs: 0,
        enforce_rate_limits: true,
        limits: ArmLimits { subscription: per, subscription_global: None, ..ArmLimits::public_cloud() },
        clock: Clock::manual(),
        ..Default::default()
    };
    let arm = Arm::with(cfg).await;
    let id = arm.vnet_id("vnet-c");
    arm.put(&id, NET, vnet_body()).await.expect(201);
    let n = arm.emu.admin.activity_events().len();
    assert_eq!(n, 2, "the request and its operation");

    // Reads (and the Activity Log itself) record nothing.
    arm.get(&id, NET).await.expect(200);
    arm.get(&format!("/subscriptions/{SUB}/resourcegroups/{RG}"), RGV).await.expect(200);
    let r = arm.activity(Some("eventTimestamp ge '2026-01-01T00:00:00Z'"), None).await;
    r.expect(200);
    // A subscription read, not a provider's.
    assert!(r.header("x-ms-ratelimit-remaining-subscription-reads").is_some());
    assert!(r.header("x-ms-ratelimit-remaining-subscription-resource-entities-read").is_none());
    assert_eq!(arm.emu.admin.activity_events().len(), n);

    // The rate limiter refuses the next write: not logged.
    arm.put(&arm.vnet_id("vnet-d"), NET, vnet_body()).await.expect_err(429, "SubscriptionRequestsThrottled");
    // A throttle fault neither.
    arm.emu.admin.add_fault(FaultRule::new(Some("DELETE"), None, None, Fault::Throttle { retry_after_seconds: 1, code: None }, Some(1)));
    arm.delete(&id, NET).await.expect_err(429, "SubscriptionRequestsThrottled");
    assert_eq!(arm.emu.admin.activity_events().len(), n);

    // Nor a request refused for its token.
    arm.emu.admin.update_config(&moat::emulator::ConfigPatch { require_token: Some("secret".into()), ..Default::default() });
    arm.delete(&id, NET).await.expect_err(401, "AuthenticationFailed");
    assert_eq!(arm.emu.admin.activity_events().len(), n);
    // With the token, the delete is logged, with the token's principal as caller.
    let d = arm.send(arm.http.delete(arm.url(&id, Some(NET))).bearer_auth("secret")).await;
    assert!(matches!(d.status, 200 | 202), "{}", d.body);
    let all = arm.emu.admin.activity_events();
    assert!(all.len() > n);
    assert_eq!(field(&all[all.len() - n - 1], "/operationName/value"), "Microsoft.Network/virtualNetworks/delete");
    assert!(field(&all[0], "/caller").starts_with("token-"), "{}", all[0]);
}
