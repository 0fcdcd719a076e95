//! Shared helpers for the emulator's integration tests: raw reqwest + JSON, no moat client.
#![allow(dead_code)]

use std::time::Duration;

use moat::emulator::{EmulatorConfig, RunningEmulator, start};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

pub const SUB: &str = "00000000-0000-0000-0000-0000000000aa";
pub const SUB2: &str = "00000000-0000-0000-0000-0000000000bb";
pub const RG: &str = "rg-ml";
pub const NET: &str = "2024-05-01";
pub const DNS: &str = "2024-06-01";
pub const ML: &str = "2024-10-01";
pub const ST: &str = "2023-05-01";
pub const KV: &str = "2024-11-01";
pub const ACR: &str = "2023-07-01";
pub const AI: &str = "2020-02-02";
pub const RGV: &str = "2021-04-01";

/// An answer: status, headers, JSON body (Null when empty).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    /// `error.code` of an ARM error body.
    pub fn code(&self) -> &str {
        self.body
            .pointer("/error/code")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn message(&self) -> &str {
        self.body
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    pub fn str(&self, pointer: &str) -> &str {
        self.body
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn prov(&self) -> &str {
        self.str("/properties/provisioningState")
    }

    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status, status,
            "unexpected answer: {} {}",
            self.status, self.body
        );
        self
    }

    #[track_caller]
    pub fn expect_err(&self, status: u16, code: &str) -> &Self {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "unexpected answer: {}",
            self.body
        );
        assert!(
            !self.message().is_empty(),
            "ARM errors carry a message: {}",
            self.body
        );
        self
    }
}

pub struct Arm {
    pub emu: RunningEmulator,
    pub http: reqwest::Client,
}

impl Arm {
    /// An emulator with `RG` in `SUB`, Retry-After 0 and `polls` polls per operation.
    pub async fn new(polls: u32) -> Arm {
        Self::with(EmulatorConfig {
            polls_to_complete: polls,
            retry_after_secs: 0,
            ..Default::default()
        })
        .await
    }

    pub async fn with(cfg: EmulatorConfig) -> Arm {
        let cfg = cfg.with_resource_group(SUB, RG);
        let emu = start(cfg).await.expect("emulator starts");
        // HTTPS only: the client trusts the CA the emulator generated.
        let http = emu
            .trust()
            .apply(reqwest::Client::builder().timeout(Duration::from_secs(30)))
            .build()
            .expect("client");
        Arm { emu, http }
    }

    pub fn base(&self) -> &str {
        &self.emu.base_url
    }

    /// `/subscriptions/SUB/resourceGroups/RG/providers/{rest}`.
    pub fn rid(&self, rest: &str) -> String {
        format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/{rest}")
    }

    pub fn url(&self, path_or_url: &str, api: Option<&str>) -> String {
        let mut u = if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base())
        };
        if let Some(a) = api {
            u.push(if u.contains('?') { '&' } else { '?' });
            u.push_str("api-version=");
            u.push_str(a);
        }
        u
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let r = req.send().await.expect("request sent");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.expect("body read");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn put(&self, id: &str, api: &str, body: Value) -> Resp {
        self.send(self.http.put(self.url(id, Some(api))).json(&body))
            .await
    }

    pub async fn patch(&self, id: &str, api: &str, body: Value) -> Resp {
        self.send(self.http.patch(self.url(id, Some(api))).json(&body))
            .await
    }

    pub async fn get(&self, id: &str, api: &str) -> Resp {
        self.send(self.http.get(self.url(id, Some(api)))).await
    }

    /// GET of an absolute URL (poll URLs, nextLink).
    pub async fn get_abs(&self, url: &str) -> Resp {
        self.send(self.http.get(url)).await
    }

    pub async fn delete(&self, id: &str, api: &str) -> Resp {
        self.send(self.http.delete(self.url(id, Some(api)))).await
    }

    /// Follows an LRO answer to its end: Azure-AsyncOperation first, else Location.
    /// Returns the final status body (async op) or the final Location answer.
    pub async fn wait(&self, r: &Resp) -> Resp {
        if let Some(op) = r.header("azure-asyncoperation") {
            for _ in 0..50 {
                let s = self.get_abs(&op).await;
                assert_eq!(s.status, 200, "status poll answers 200: {}", s.body);
                if s.str("/status") != "InProgress" {
                    return s;
                }
            }
            panic!("operation never finished");
        }
        if let Some(loc) = r.header("location") {
            for _ in 0..50 {
                let s = self.get_abs(&loc).await;
                if s.status != 202 {
                    return s;
                }
            }
            panic!("operation never finished");
        }
        Resp {
            status: r.status,
            headers: r.headers.clone(),
            body: r.body.clone(),
        }
    }

    /// PUT, follow the operation, assert success, return the final GET.
    pub async fn put_ok(&self, id: &str, api: &str, body: Value) -> Value {
        let r = self.put(id, api, body).await;
        assert!(
            matches!(r.status, 200..=202),
            "PUT {id} failed: {} {}",
            r.status,
            r.body
        );
        let done = self.wait(&r).await;
        if done.body.get("status").is_some() {
            assert_eq!(
                done.str("/status"),
                "Succeeded",
                "operation failed: {}",
                done.body
            );
        }
        let g = self.get(id, api).await;
        g.expect(200);
        assert_eq!(g.prov(), "Succeeded", "{}", g.body);
        g.body
    }

    /// DELETE and follow to completion; returns the final answer.
    pub async fn delete_ok(&self, id: &str, api: &str) -> Resp {
        let r = self.delete(id, api).await;
        assert!(
            matches!(r.status, 200 | 202 | 204),
            "DELETE {id} failed: {} {}",
            r.status,
            r.body
        );
        self.wait(&r).await
    }

    pub async fn admin_get(&self, path: &str) -> Resp {
        self.send(self.http.get(format!("{}/_emulator/{path}", self.base())))
            .await
    }

    pub async fn admin_put(&self, path: &str, body: Value) -> Resp {
        self.send(
            self.http
                .put(format!("{}/_emulator/{path}", self.base()))
                .json(&body),
        )
        .await
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> Resp {
        self.send(
            self.http
                .post(format!("{}/_emulator/{path}", self.base()))
                .json(&body),
        )
        .await
    }

    pub async fn admin_delete(&self, path: &str) -> Resp {
        self.send(
            self.http
                .delete(format!("{}/_emulator/{path}", self.base())),
        )
        .await
    }

    // ---- resource builders ------------------------------------------------------------------

    pub fn vnet_id(&self, name: &str) -> String {
        self.rid(&format!("Microsoft.Network/virtualNetworks/{name}"))
    }

    pub fn subnet_id(&self, vnet: &str, name: &str) -> String {
        format!("{}/subnets/{name}", self.vnet_id(vnet))
    }

    /// A VNet 10.10.0.0/16 with the given inline subnets `(name, prefix)`.
    pub async fn vnet(&self, name: &str, subnets: &[(&str, &str)]) -> Value {
        let subnets: Vec<Value> = subnets
            .iter()
            .map(|(n, p)| json!({"name": n, "properties": {"addressPrefix": p}}))
            .collect();
        self.put_ok(
            &self.vnet_id(name),
            NET,
            json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.10.0.0/16"]}, "subnets": subnets}}),
        )
        .await
    }

    pub fn storage_id(&self, name: &str) -> String {
        self.rid(&format!("Microsoft.Storage/storageAccounts/{name}"))
    }

    pub async fn storage(&self, name: &str) -> Value {
        self.put_ok(&self.storage_id(name), ST, json!({"location": "eastus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "properties": {}}))
            .await
    }

    pub fn vault_id(&self, name: &str) -> String {
        self.rid(&format!("Microsoft.KeyVault/vaults/{name}"))
    }

    pub async fn vault(&self, name: &str) -> Value {
        self.put_ok(
            &self.vault_id(name),
            KV,
            json!({"location": "eastus", "properties": {"tenantId": "72f988bf-0000-4000-8000-00000000e001", "sku": {"family": "A", "name": "standard"}}}),
        )
        .await
    }

    pub fn registry_id(&self, name: &str) -> String {
        self.rid(&format!("Microsoft.ContainerRegistry/registries/{name}"))
    }

    pub async fn registry(&self, name: &str, sku: &str) -> Value {
        self.put_ok(
            &self.registry_id(name),
            ACR,
            json!({"location": "eastus", "sku": {"name": sku}, "properties": {}}),
        )
        .await
    }

    pub fn insights_id(&self, name: &str) -> String {
        self.rid(&format!("Microsoft.Insights/components/{name}"))
    }

    pub async fn insights(&self, name: &str) -> Value {
        self.put_ok(
            &self.insights_id(name),
            AI,
            json!({"location": "eastus", "kind": "web", "properties": {"Application_Type": "web"}}),
        )
        .await
    }

    pub fn workspace_id(&self, name: &str) -> String {
        self.rid(&format!(
            "Microsoft.MachineLearningServices/workspaces/{name}"
        ))
    }

    /// Storage, vault, insights, Premium registry and a workspace linking them.
    pub async fn workspace(&self, name: &str) -> Value {
        self.storage("sa1").await;
        self.vault("kv1").await;
        self.insights("ai1").await;
        self.registry("acr1", "Premium").await;
        self.put_ok(
            &self.workspace_id(name),
            ML,
            json!({
                "location": "eastus",
                "identity": {"type": "SystemAssigned"},
                "properties": {
                    "storageAccount": self.storage_id("sa1"),
                    "keyVault": self.vault_id("kv1"),
                    "applicationInsights": self.insights_id("ai1"),
                    "containerRegistry": self.registry_id("acr1"),
                    "publicNetworkAccess": "Disabled",
                }
            }),
        )
        .await
    }

    pub fn pe_id(&self, name: &str) -> String {
        self.rid(&format!("Microsoft.Network/privateEndpoints/{name}"))
    }

    pub fn pe_body(&self, subnet_id: &str, target: &str, group: &str) -> Value {
        json!({
            "location": "eastus",
            "properties": {
                "subnet": {"id": subnet_id},
                "privateLinkServiceConnections": [{"name": "conn", "properties": {"privateLinkServiceId": target, "groupIds": [group]}}]
            }
        })
    }

    pub fn zone_id(&self, name: &str) -> String {
        self.rid(&format!("Microsoft.Network/privateDnsZones/{name}"))
    }

    pub async fn zone(&self, name: &str) -> Value {
        self.put_ok(&self.zone_id(name), DNS, json!({"location": "global"}))
            .await
    }
}
