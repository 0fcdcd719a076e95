//! The emulator enforces ARM's request limits (azure-arm-facts.md §4.3) and speaks the
//! managed-identity protocol. Time is a manual clock the tests advance: no sleeps.

mod emulator_support;

use std::time::Duration;

use emulator_support::{Arm, NET, RG, RGV, SUB, SUB2};
use moat::emulator::{ArmLimits, Clock, EmulatorConfig, Limit, ThrottleModel};
use moat::emulator::ratelimit::{ClassLimits, ProviderLimit};
use serde_json::json;

const DNS: &str = "2024-06-01";

async fn enforcing(limits: ArmLimits) -> Arm {
    let cfg = EmulatorConfig { polls_to_complete: 0, retry_after_secs: 0, enforce_rate_limits: true, limits, clock: Clock::manual(), ..Default::default() };
    Arm::with(cfg).await
}

fn num(r: &emulator_support::Resp, h: &str) -> u64 {
    r.header(h).unwrap_or_else(|| panic!("no {h} on {} {}", r.status, r.body)).parse().expect("a count")
}

impl Arm {
    async fn get_as(&self, who: &str, path: &str, api: &str) -> emulator_support::Resp {
        self.send(self.http.get(self.url(path, Some(api))).bearer_auth(who)).await
    }

    fn advance(&self, secs: u64) {
        assert!(self.emu.admin.clock().advance(Duration::from_secs(secs)), "the clock is manual");
    }
}

fn rg_path(sub: &str, name: &str) -> String {
    format!("/subscriptions/{sub}/resourcegroups/{name}")
}

#[tokio::test]
async fn per_principal_buckets_refill_and_answer_429_with_retry_after() {
    let arm = enforcing(ArmLimits::public_cloud()).await;
    let rg = rg_path(SUB, RG);
    // Reads: 250, counted down in the headers of every answer (a 404 included).
    for i in 0..250u64 {
        let path = if i == 7 { rg_path(SUB, "missing") } else { rg.clone() };
        let r = arm.get_as("alice", &path, RGV).await;
        assert_eq!(num(&r, "x-ms-ratelimit-remaining-subscription-reads"), 249 - i);
        assert_eq!(num(&r, "x-ms-ratelimit-remaining-subscription-global-reads"), 3749 - i);
        assert!(r.header("x-ms-ratelimit-remaining-subscription-writes").is_none(), "only the class of the request");
    }
    let t = arm.get_as("alice", &rg, RGV).await;
    t.expect_err(429, "SubscriptionRequestsThrottled");
    assert_eq!(t.header("retry-after").as_deref(), Some("1"));
    assert_eq!(num(&t, "x-ms-ratelimit-remaining-subscription-reads"), 0);
    assert!(t.message().contains("'read' requests for subscription") && t.message().contains("actor 'token-"), "{}", t.message());
    assert!(!t.message().contains("alice"), "a token never appears in a message");
    // Another principal has its own bucket; the subscription's global one is shared.
    let b = arm.get_as("bob", &rg, RGV).await.expect(200).headers.clone();
    assert_eq!(b["x-ms-ratelimit-remaining-subscription-reads"], "249");
    assert_eq!(b["x-ms-ratelimit-remaining-subscription-global-reads"], "3499");
    // And another subscription its own.
    let other = arm.get_as("alice", &format!("/subscriptions/{SUB2}"), "2022-12-01").await.expect(200).headers.clone();
    assert_eq!(other["x-ms-ratelimit-remaining-subscription-reads"], "249");
    // 25 reads a second come back.
    arm.advance(1);
    for _ in 0..25 {
        arm.get_as("alice", &rg, RGV).await.expect(200);
    }
    arm.get_as("alice", &rg, RGV).await.expect_err(429, "SubscriptionRequestsThrottled");

    // Writes: 200 and 10 a second; deletes: their own 200.
    for i in 0..200u64 {
        let r = arm.send(arm.http.put(arm.url(&rg_path(SUB, &format!("rg-{i}")), Some(RGV))).bearer_auth("alice").json(&json!({"location": "eastus"}))).await;
        r.expect(201);
        assert_eq!(num(&r, "x-ms-ratelimit-remaining-subscription-writes"), 199 - i);
    }
    let w = arm.send(arm.http.put(arm.url(&rg_path(SUB, "rg-x"), Some(RGV))).bearer_auth("alice").json(&json!({"location": "eastus"}))).await;
    w.expect_err(429, "SubscriptionRequestsThrottled");
    assert!(w.message().contains("'write'"));
    let d = arm.send(arm.http.delete(arm.url(&rg_path(SUB, "rg-0"), Some(RGV))).bearer_auth("alice")).await;
    d.expect(202);
    assert_eq!(num(&d, "x-ms-ratelimit-remaining-subscription-deletes"), 199);
    arm.advance(1);
    let w = arm.send(arm.http.put(arm.url(&rg_path(SUB, "rg-x"), Some(RGV))).bearer_auth("alice").json(&json!({"location": "eastus"}))).await;
    w.expect(201);
    assert_eq!(num(&w, "x-ms-ratelimit-remaining-subscription-writes"), 9);
    // A throttled request was not processed.
    assert!(arm.emu.admin.state_dump()["resourceGroups"].as_array().unwrap().iter().filter(|g| g["name"] == "rg-x").count() == 1);
    let stats = arm.emu.admin.rate_stats();
    assert_eq!(stats.throttled.get("subscription"), Some(&3), "{stats:?}");
}

#[tokio::test]
async fn all_principals_of_a_subscription_share_the_global_limit() {
    // Small numbers, the same mechanism as the public cloud's 250 per principal and 3,750 (15×) in all.
    let per = ClassLimits { reads: Limit::bucket(4, 1.0), writes: Limit::bucket(4, 1.0), deletes: Limit::bucket(4, 1.0) };
    let all = ClassLimits { reads: Limit::bucket(10, 2.0), writes: Limit::bucket(10, 2.0), deletes: Limit::bucket(10, 2.0) };
    let arm = enforcing(ArmLimits { subscription: per, subscription_global: Some(all), ..ArmLimits::public_cloud() }).await;
    let rg = rg_path(SUB, RG);
    for who in ["p1", "p2"] {
        for _ in 0..4 {
            arm.get_as(who, &rg, RGV).await.expect(200);
        }
    }
    arm.get_as("p3", &rg, RGV).await.expect(200);
    let r = arm.get_as("p3", &rg, RGV).await.expect(200).headers.clone();
    assert_eq!(r["x-ms-ratelimit-remaining-subscription-reads"], "2");
    assert_eq!(r["x-ms-ratelimit-remaining-subscription-global-reads"], "0");
    let t = arm.get_as("p3", &rg, RGV).await;
    t.expect_err(429, "SubscriptionRequestsThrottled");
    assert!(t.message().contains("all principals"), "{}", t.message());
    assert_eq!(arm.emu.admin.rate_stats().throttled.get("global"), Some(&1));
}

#[tokio::test]
async fn requests_outside_a_subscription_use_the_tenant_limits() {
    let arm = enforcing(ArmLimits::public_cloud()).await;
    let r = arm.get_as("alice", "/providers/Microsoft.Network/operations", "2024-05-01").await;
    assert_eq!(num(&r, "x-ms-ratelimit-remaining-tenant-reads"), 249);
    assert!(r.header("x-ms-ratelimit-remaining-subscription-reads").is_none());
}

#[tokio::test]
async fn private_dns_and_network_limits_hold_per_subscription_and_region() {
    let mut limits = ArmLimits::public_cloud();
    // Microsoft.Network writes scaled down from 1,000 per 5 minutes to 3, to stay quick.
    limits.providers = vec![
        ProviderLimit { type_prefix: "Microsoft.Network/privateDnsZones".into(), reads: Some(Limit::per(500, Duration::from_secs(300))), writes: None },
        ProviderLimit { type_prefix: "Microsoft.Network/".into(), reads: Some(Limit::per(10_000, Duration::from_secs(300))), writes: Some(Limit::per(3, Duration::from_secs(300))) },
    ];
    let arm = enforcing(limits).await;
    let zone = arm.zone_id("privatelink.api.azureml.ms");
    arm.put(&zone, DNS, json!({"location": "global"})).await.expect(201);
    // Private DNS: 500 GETs in any 5 minutes (the ARM read bucket refills in between).
    for i in 0..500u64 {
        if i == 200 || i == 400 {
            arm.advance(10);
        }
        let r = arm.get(&zone, DNS).await;
        r.expect(200);
        assert_eq!(num(&r, "x-ms-ratelimit-remaining-subscription-resource-entities-read"), 499 - i);
    }
    let t = arm.get(&zone, DNS).await;
    t.expect_err(429, "TooManyRequests");
    assert_eq!(t.header("retry-after").as_deref(), Some("280"), "the oldest GET leaves the window 5 minutes after it was made");
    assert!(t.message().contains("Read_ObservationWindow_00:05:00"));
    // Other Microsoft.Network reads are not Private DNS's.
    let vnet = arm.vnet_id("v");
    let g = arm.get(&vnet, NET).await;
    g.expect_err(404, "ResourceNotFound");
    assert_eq!(num(&g, "x-ms-ratelimit-remaining-subscription-resource-entities-read"), 9_999);
    arm.advance(280);
    arm.get(&zone, DNS).await.expect(200);

    // Microsoft.Network writes, per region of the resource.
    let nsg = |n: &str| arm.rid(&format!("Microsoft.Network/networkSecurityGroups/{n}"));
    for n in ["a", "b", "c"] {
        arm.put(&nsg(n), NET, json!({"location": "eastus"})).await.expect(201);
    }
    let t = arm.put(&nsg("d"), NET, json!({"location": "eastus"})).await;
    t.expect_err(429, "TooManyRequests");
    assert!(t.message().contains("Write_ObservationWindow"));
    assert_eq!(num(&t, "x-ms-ratelimit-remaining-subscription-resource-requests"), 0);
    assert!(arm.get(&nsg("d"), NET).await.status == 404, "the refused PUT did nothing");
    // Another region has its own meter; a child counts in its parent's region.
    let w = arm.put(&nsg("w"), NET, json!({"location": "westeurope"})).await;
    w.expect(201);
    assert_eq!(num(&w, "x-ms-ratelimit-remaining-subscription-resource-requests"), 2);
    arm.put(&format!("{}/securityRules/r1", nsg("w")), NET, json!({"properties": {"priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "*"}}))
        .await
        .expect(201);
    let w2 = arm.put(&nsg("w2"), NET, json!({"location": "westeurope"})).await;
    assert_eq!(num(&w2, "x-ms-ratelimit-remaining-subscription-resource-requests"), 0);
    assert!(arm.emu.admin.rate_stats().throttled.get("provider").is_some_and(|n| *n == 2));
}

#[tokio::test]
async fn sovereign_clouds_count_per_hour() {
    let arm = enforcing(ArmLimits::sovereign_hourly()).await;
    let rg = rg_path(SUB, RG);
    let r = arm.get_as("alice", &rg, RGV).await.expect(200).headers.clone();
    assert_eq!(r["x-ms-ratelimit-remaining-subscription-reads"], "11999");
    assert!(r.get("x-ms-ratelimit-remaining-subscription-global-reads").is_none(), "no global limit in the hourly model");
    for i in 0..1200u64 {
        let w = arm.send(arm.http.put(arm.url(&rg_path(SUB, &format!("h-{i}")), Some(RGV))).bearer_auth("alice").json(&json!({"location": "usgovvirginia"}))).await;
        w.expect(201);
        assert_eq!(num(&w, "x-ms-ratelimit-remaining-subscription-writes"), 1199 - i);
        if i == 599 {
            arm.advance(1800);
        }
    }
    let t = arm.send(arm.http.put(arm.url(&rg_path(SUB, "h-x"), Some(RGV))).bearer_auth("alice").json(&json!({"location": "usgovvirginia"}))).await;
    t.expect_err(429, "SubscriptionRequestsThrottled");
    assert_eq!(t.header("retry-after").as_deref(), Some("1800"), "the first 600 writes leave the hour window in 30 minutes");
    arm.advance(1800);
    let w = arm.send(arm.http.put(arm.url(&rg_path(SUB, "h-x"), Some(RGV))).bearer_auth("alice").json(&json!({"location": "usgovvirginia"}))).await;
    w.expect(201);
    assert_eq!(num(&w, "x-ms-ratelimit-remaining-subscription-writes"), 599);
    // The model can be switched at run time through the admin API.
    let c = arm.admin_put("config", json!({"throttleModel": "regional"})).await;
    assert_eq!(c.body["throttleModel"], "regional");
    let r = arm.get_as("alice", &rg, RGV).await.expect(200).headers.clone();
    assert_eq!(r["x-ms-ratelimit-remaining-subscription-reads"], "249");
    assert_eq!(ThrottleModel::default(), ThrottleModel::Regional);
}

#[tokio::test]
async fn managed_identity_tokens_are_accepted_and_metered_per_identity() {
    let cfg = EmulatorConfig { polls_to_complete: 0, require_token: Some("static-token".into()), clock: Clock::manual(), ..EmulatorConfig::for_tests() };
    let arm = Arm::with(cfg).await;
    assert!(arm.emu.identity_endpoint.starts_with("https://127.0.0.1:") && arm.emu.identity_endpoint.ends_with("/msi/token"));
    let msi = |query: &str| format!("{}?{query}", arm.emu.identity_endpoint);
    let token_for = |client_id: Option<&str>| {
        let mut q = "resource=https%3A%2F%2Fmanagement.azure.com&api-version=2019-08-01".to_string();
        if let Some(c) = client_id {
            q.push_str(&format!("&client_id={c}"));
        }
        arm.http.get(msi(&q)).header("X-IDENTITY-HEADER", &arm.emu.identity_header)
    };
    let system = arm.send(token_for(None)).await;
    system.expect(200);
    assert_eq!(system.str("/token_type"), "Bearer");
    assert_eq!(system.str("/resource"), "https://management.azure.com");
    let expires: i64 = system.str("/expires_on").parse().expect("expires_on is Unix seconds as a string");
    assert!(expires > jiff::Timestamp::now().as_second() + 3600);
    let user = arm.send(token_for(Some("11111111-2222-3333-4444-555555555555"))).await;
    user.expect(200);
    assert_eq!(user.str("/client_id"), "11111111-2222-3333-4444-555555555555");
    // The identity header is required, and the protocol's api-version.
    let no_header = arm.send(arm.http.get(msi("resource=r&api-version=2019-08-01"))).await;
    assert_eq!(no_header.status, 401);
    let old = arm.send(arm.http.get(msi("resource=r&api-version=2017-09-01")).header("X-IDENTITY-HEADER", &arm.emu.identity_header)).await;
    assert_eq!(old.status, 400);

    // ARM accepts issued tokens beside the static one, each identity its own principal.
    let rg = rg_path(SUB, RG);
    let as_system = arm.get_as(system.str("/access_token"), &rg, RGV).await.expect(200).headers.clone();
    let as_user = arm.get_as(user.str("/access_token"), &rg, RGV).await.expect(200).headers.clone();
    let as_static = arm.get_as("static-token", &rg, RGV).await.expect(200).headers.clone();
    for h in [&as_system, &as_user, &as_static] {
        assert_eq!(h["x-ms-ratelimit-remaining-subscription-reads"], "249");
    }
    assert_eq!(as_static["x-ms-ratelimit-remaining-subscription-global-reads"], "3747");
    arm.get_as("forged", &rg, RGV).await.expect_err(401, "InvalidAuthenticationToken");
    let ids = arm.admin_get("identities").await;
    assert_eq!(ids.body["identities"].as_array().map(Vec::len), Some(2));
    assert!(!ids.body.to_string().contains(system.str("/access_token")), "tokens are never listed");
}
