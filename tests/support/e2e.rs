//! End-to-end harness: the real control plane (shared per test binary), an in-process ARM
//! emulator per test, and `moat run` as a separate process watching the test's namespace.
//!
//! moat talks to the emulator as to Azure: over HTTPS (it trusts the emulator's CA through
//! `--arm-ca-file`) with a managed-identity token (`--credential managed`, the App Service
//! protocol through `IDENTITY_ENDPOINT` / `IDENTITY_HEADER`); the emulator accepts no other token.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::Resource;
use moat::emulator::{EmulatorConfig, RunningEmulator};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use super::testenv::TestEnv;

pub const SUB: &str = "6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
pub const TENANT: &str = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9";
pub const RG: &str = "rg-ml-prod";

/// Installs the CRDs once per test binary.
pub async fn env() -> &'static TestEnv {
    static CRDS: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let env = super::testenv::shared().await;
    CRDS.get_or_init(|| async {
        let out = env.kubectl(["apply", "--server-side", "-f", concat!(env!("CARGO_MANIFEST_DIR"), "/crds")]).await.expect("kubectl");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = env
            .kubectl(["wait", "--for=condition=Established", "--timeout=60s", "crd/secureworkspaces.moat.dev", "crd/computesubnets.moat.dev", "crd/privateendpointbindings.moat.dev"])
            .await
            .expect("kubectl");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    })
    .await;
    env
}

/// A sample manifest from config/samples as JSON, moved to `ns`.
pub fn sample(file: &str, ns: &str) -> Value {
    let path = format!("{}/config/samples/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut v: Value = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    v["metadata"]["namespace"] = json!(ns);
    v
}

pub struct Harness {
    pub env: &'static TestEnv,
    pub ns: String,
    pub emu: RunningEmulator,
    moat: Option<Child>,
    pub log: PathBuf,
    pub resync_seconds: u64,
    /// Requeue interval while converging (`--retry-seconds`).
    pub retry_seconds: u64,
    /// Where moat serves /healthz, /readyz and /metrics (port 0: any free port).
    pub metrics_addr: String,
    /// More `moat run` flags (benchmarks set `--concurrency`).
    pub extra_args: Vec<String>,
    /// `RUST_LOG` of moat (debug for moat by default; benchmarks log at info, as in production).
    pub log_filter: String,
    /// The emulator's CA certificate, for `--arm-ca-file`.
    pub ca_file: PathBuf,
    /// moat's client-side pacing (`--arm-pacing`). Off by default: the end-to-end tests resync
    /// every 2 s, far above what ARM's limits allow (Private DNS: 500 GETs per 5 minutes), and
    /// test behaviour, not limits; pacing is tested against the enforced limits in
    /// tests/azure_client_emulator.rs and measured by the converge benchmark, which turn it on.
    pub pacing: bool,
    /// The one static token the emulator accepts beside its managed-identity tokens (for `moat
    /// plan --arm-token`, run beside the controller).
    pub arm_token: String,
}

impl Harness {
    pub async fn new(prefix: &str, cfg: EmulatorConfig) -> Harness {
        let env = env().await;
        let ns = env.namespace(prefix).await.expect("namespace");
        super::tenancy::grant_harness_namespace(env, &ns).await;
        let mut cfg = cfg.with_resource_group(SUB, RG).with_resource_group(SUB, "rg-data");
        // The managed-identity endpoint's tokens get in, and this one (for `moat plan`).
        let arm_token = cfg.require_token.get_or_insert_with(|| format!("plan-{}", uuid::Uuid::new_v4())).clone();
        let emu = moat::emulator::start(cfg).await.expect("emulator");
        let tmp = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
        let log = tmp.join(format!("moat-{ns}-{}.log", std::process::id()));
        let ca_file = tmp.join(format!("emulator-ca-{ns}-{}.pem", std::process::id()));
        std::fs::write(&ca_file, &emu.ca_pem).expect("write the emulator's CA");
        Harness { env, ns, emu, moat: None, log, resync_seconds: 2, retry_seconds: 1, metrics_addr: "127.0.0.1:0".into(), extra_args: Vec::new(), log_filter: "info,moat=debug".into(), ca_file, pacing: false, arm_token }
    }

    /// A harness whose emulator journals every change and logs every write body, so that
    /// [`Harness::assert_safe_transitions`] and [`Harness::assert_bodies_match_the_specs`] can
    /// check the whole scenario (the e2e tests use it for every scenario; benchmarks do not).
    pub async fn checked(prefix: &str, cfg: EmulatorConfig) -> Harness {
        Harness::new(prefix, EmulatorConfig { journal: true, ..cfg }).await
    }

    /// The end of a checked scenario: every intermediate state safe, every body valid.
    pub fn assert_scenario_sound(&self) {
        self.assert_safe_transitions();
        self.assert_bodies_match_the_specs();
    }

    /// Starts `moat run` against this namespace and emulator.
    pub fn start_moat(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("log file");
        let err = log.try_clone().expect("log file");
        let resync = self.resync_seconds.to_string();
        let retry = self.retry_seconds.to_string();
        // `MOAT_TEST_WRAPPER` (a command and its arguments, split on whitespace) runs moat under
        // a profiler, e.g. `heaptrack -o /tmp/moat`; the harness's pid is then the wrapper's.
        let wrapper: Vec<String> = std::env::var("MOAT_TEST_WRAPPER").unwrap_or_default().split_whitespace().map(str::to_string).collect();
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(env!("CARGO_BIN_EXE_moat"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_moat")),
        };
        let child = command
            .args(["run", "--leader-elect=false", "--credential", "managed", "--metrics-addr", &self.metrics_addr])
            .args(["--kubeconfig", self.env.kubeconfig.to_str().expect("utf-8 path")])
            .args(["--arm-endpoint", &self.emu.base_url, "--namespace", &self.ns, "--tenant-id", TENANT])
            .arg("--arm-ca-file")
            .arg(&self.ca_file)
            .args(["--resync-seconds", &resync, "--retry-seconds", &retry, "--busy-poll-seconds", "1"])
            .args(&self.extra_args)
            .arg(format!("--arm-pacing={}", self.pacing))
            .env("IDENTITY_ENDPOINT", &self.emu.identity_endpoint)
            .env("IDENTITY_HEADER", &self.emu.identity_header)
            .env_remove("MOAT_ARM_STATIC_TOKEN")
            .env_remove("AZURE_CLIENT_ID")
            .env_remove("SSL_CERT_FILE")
            .env("RUST_LOG", &self.log_filter)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .expect("spawn moat");
        self.moat = Some(child);
    }

    /// Process id of the running `moat run`.
    pub fn moat_pid(&self) -> Option<u32> {
        self.moat.as_ref().and_then(Child::id)
    }

    /// Kills moat at once (SIGKILL), as a crash would.
    pub async fn kill_moat(&mut self) {
        if let Some(mut c) = self.moat.take() {
            let _ = c.kill().await;
        }
    }

    /// Serves moat's health and metrics on a free loopback port (before [`Harness::start_moat`]),
    /// so that [`Harness::metric`] can scrape it.
    pub fn serve_metrics(&mut self) {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port");
        self.metrics_addr = format!("127.0.0.1:{port}");
    }

    /// The sum of moat's samples of `name` whose labels hold every `labels` pair, scraped now
    /// (0 when there is none). Needs [`Harness::serve_metrics`].
    #[allow(dead_code)]
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let body = reqwest::get(format!("http://{}/metrics", self.metrics_addr)).await.expect("scrape").text().await.expect("metrics body");
        body.lines()
            .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' ')))
            .filter(|l| labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\""))))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// `kubectl apply --server-side` of one object; the apiserver's refusal as an error.
    pub async fn try_apply(&self, obj: &Value) -> Result<(), String> {
        let out = self.env.kubectl_with_stdin(["apply", "--server-side", "-f", "-"], obj.to_string().as_bytes()).await.map_err(|e| e.to_string())?;
        if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
    }

    pub async fn apply(&self, obj: &Value) {
        let out = self.env.kubectl_with_stdin(["apply", "--server-side", "-f", "-"], obj.to_string().as_bytes()).await.expect("kubectl");
        assert!(out.status.success(), "apply: {}", String::from_utf8_lossy(&out.stderr));
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        Api::namespaced(self.env.client(), &self.ns)
    }

    /// Waits until `pred` holds for the object, or fails with its status and moat's log.
    pub async fn wait_for<K>(&self, name: &str, timeout: Duration, what: &str, pred: impl Fn(&K) -> bool)
    where
        K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()> + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
    {
        let api = self.api::<K>();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let obj = api.get_opt(name).await.expect("get");
            if let Some(o) = &obj
                && pred(o)
            {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                let st = obj.map(|o| serde_json::to_string_pretty(&serde_json::to_value(&o).unwrap_or_default()["status"]).unwrap_or_default());
                panic!("{name}: not {what} within {timeout:?}\nstatus: {}\nmoat log:\n{}", st.unwrap_or_else(|| "absent".into()), self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub async fn wait_gone<K>(&self, name: &str, timeout: Duration)
    where
        K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let api = self.api::<K>();
        let deadline = tokio::time::Instant::now() + timeout;
        while api.get_opt(name).await.expect("get").is_some() {
            assert!(tokio::time::Instant::now() < deadline, "{name} still present after {timeout:?}\nmoat log:\n{}", self.log_tail());
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Resources stored in the emulator of one type (e.g. `Microsoft.Network/privateEndpoints`).
    pub fn resources(&self, rtype: &str) -> Vec<Value> {
        let dump = self.emu.admin.state_dump_filtered(Some(rtype));
        dump["resources"].as_array().cloned().unwrap_or_default().into_iter().map(|r| r["resource"].clone()).collect()
    }

    pub fn all_resources(&self) -> Vec<Value> {
        self.emu.admin.state_dump()["resources"].as_array().cloned().unwrap_or_default()
    }

    /// ARM writes (PUT, PATCH, DELETE, POST) logged after `since`.
    pub fn writes_since(&self, since: u64) -> Vec<moat::emulator::LogEntry> {
        self.emu.admin.requests(Some(since)).entries.into_iter().filter(|e| e.method != "GET").collect()
    }

    pub fn last_seq(&self) -> u64 {
        self.emu.admin.requests(None).last_seq
    }

    /// Patches a ComputeSubnet or SecureWorkspace spec.
    pub async fn merge_patch<K>(&self, name: &str, patch: Value)
    where
        K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        self.api::<K>().patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch");
    }
}

/// The Azure states a journal describes: the state after each commit, grouped in segments that
/// start after each change the test made itself (an admin commit) and end before the next one.
pub fn segments(journal: &[moat::emulator::JournalChange]) -> Vec<Vec<moat::netcheck::State>> {
    let mut out: Vec<Vec<moat::netcheck::State>> = Vec::new();
    let mut state = moat::netcheck::State::new();
    let mut current: Vec<moat::netcheck::State> = vec![state.clone()];
    let mut i = 0;
    while i < journal.len() {
        let commit = journal[i].commit;
        let origin = journal[i].origin.clone();
        while i < journal.len() && journal[i].commit == commit {
            let c = &journal[i];
            match &c.body {
                Some(b) => {
                    state.insert(c.id.to_ascii_lowercase(), b.clone());
                }
                None => {
                    state.remove(&c.id.to_ascii_lowercase());
                }
            }
            i += 1;
        }
        if origin == "admin" {
            if current.len() > 1 {
                out.push(std::mem::take(&mut current));
            }
            current = vec![state.clone()];
        } else {
            current.push(state.clone());
        }
    }
    if current.len() > 1 {
        out.push(current);
    }
    out
}

impl Harness {
    /// Fails the test if any intermediate Azure state of the scenario so far was less permissive
    /// than both ends of its transition for the traffic or names concerned, or more permissive
    /// than both (`moat::netcheck`): checked after every write moat made.
    pub fn assert_safe_transitions(&self) {
        let journal = self.emu.admin.journal(0);
        let mut problems = Vec::new();
        for (n, states) in segments(&journal).iter().enumerate() {
            for v in moat::netcheck::check_transition(states) {
                problems.push(format!("segment {n} ({} states): {v}", states.len()));
            }
        }
        assert!(problems.is_empty(), "unsafe intermediate states:\n{}\nmoat log:\n{}", problems.join("\n"), self.log_tail());
    }

    /// Fails the test if any request body moat sent (every PUT and PATCH in the emulator's log)
    /// breaks the ARM OpenAPI spec of its operation: unknown or read-only properties, bad enum
    /// values, missing required ones. Returns the operations no bundled spec covers.
    pub fn assert_bodies_match_the_specs(&self) -> Vec<String> {
        let specs = moat::azure::spec_check::SpecSet::from_env().expect("the bundled ARM specs (shared/azure-specs)");
        let mut problems = Vec::new();
        let mut unchecked = std::collections::BTreeSet::new();
        for e in self.emu.admin.requests(None).entries.iter().filter(|e| e.method == "PUT" || e.method == "PATCH") {
            let Some(body) = &e.body else { continue };
            let (path, query) = e.path.split_once('?').unwrap_or((e.path.as_str(), ""));
            let version = query.split('&').find_map(|kv| kv.strip_prefix("api-version="));
            match specs.operation_for_path(&e.method, path, version) {
                Some(op) => {
                    for v in specs.check_request_for(&op, body) {
                        problems.push(format!("{} {path}: {v}", e.method));
                    }
                }
                None => {
                    unchecked.insert(format!("{} {}", e.method, e.resource_type.clone().unwrap_or_default()));
                }
            }
        }
        assert!(problems.is_empty(), "request bodies that break the ARM specs:\n{}", problems.join("\n"));
        unchecked.into_iter().collect()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(c) = self.moat.as_mut() {
            let _ = c.start_kill();
        }
    }
}

/// True when the condition of this type is True and current.
pub fn condition_true(conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition], generation: Option<i64>, t: &str) -> bool {
    conditions.iter().any(|c| c.type_ == t && c.status == "True" && c.observed_generation == generation)
}
