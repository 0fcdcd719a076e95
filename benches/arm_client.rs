//! Throughput of the ARM client against the in-process ARM emulator, and the emulator's own
//! latency per request.
//!
//! `cargo bench --bench arm_client` (set `ARM_BENCH_SCALE=0.2` for a quick run).
//!
//! Reported per workload: client calls per second (one call = one typed client method, e.g. a
//! GET, or a PUT including its long-running-operation polls and final GET), HTTP requests per
//! second, client-observed latency per call (p50/p99) and the emulator's handler latency per
//! request (p50/p99, from its request log).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use moat::azure::models::network::*;
use moat::azure::{
    ArmClient, ArmClientConfig, AzureCloud, LroPolicy, ResourceId, RetryAfterBounds, StaticToken,
};
use moat::emulator::{ConfigPatch, Emulator, EmulatorConfig, start};
use url::Url;

const SUB: &str = "00000000-0000-0000-0000-0000000000bb";
const RG: &str = "rg-bench";

fn rid(rest: &str) -> ResourceId {
    ResourceId::parse(&format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/{rest}")).expect("valid id")
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Row {
    name: String,
    concurrency: usize,
    calls: usize,
    secs: f64,
    requests: u64,
    client_ms: Vec<f64>,
    emulator_ms: Vec<f64>,
}

impl Row {
    fn print(&mut self) {
        self.client_ms.sort_by(f64::total_cmp);
        self.emulator_ms.sort_by(f64::total_cmp);
        println!(
            "{:<34} {:>4} {:>7} {:>10.0} {:>10.0} {:>8.3} {:>8.3} {:>8.3} {:>8.3}",
            self.name,
            self.concurrency,
            self.calls,
            self.calls as f64 / self.secs,
            self.requests as f64 / self.secs,
            pct(&self.client_ms, 0.50),
            pct(&self.client_ms, 0.99),
            pct(&self.emulator_ms, 0.50),
            pct(&self.emulator_ms, 0.99),
        );
    }
}

async fn run<F, Fut>(name: &str, client: &ArmClient, emu: &Emulator, calls: usize, concurrency: usize, f: F) -> Row
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    emu.clear_requests();
    let before = client.stats().requests;
    let t0 = Instant::now();
    let client_ms: Vec<f64> = futures::stream::iter(0..calls)
        .map(|i| {
            let fut = f(i);
            async move {
                let t = Instant::now();
                fut.await;
                t.elapsed().as_secs_f64() * 1000.0
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let secs = t0.elapsed().as_secs_f64();
    let emulator_ms = emu.requests(None).entries.iter().map(|e| e.duration_ms).collect();
    Row {
        name: name.to_string(),
        concurrency,
        calls,
        secs,
        requests: client.stats().requests - before,
        client_ms,
        emulator_ms,
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    rt.block_on(bench());
}

async fn bench() {
    let scale: f64 = std::env::var("ARM_BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let n = |x: usize| ((x as f64 * scale) as usize).max(10);
    let emu = start(
        EmulatorConfig {
            polls_to_complete: 0,
            retry_after_secs: 0,
            ..Default::default()
        }
        .with_resource_group(SUB, RG),
    )
    .await
    .expect("emulator");
    let admin = emu.admin.clone();
    let config = ArmClientConfig {
        cloud: AzureCloud::emulator(Url::parse(&emu.base_url).expect("url")),
        // Over HTTPS, trusting the emulator's CA.
        trust: emu.trust(),
        // Raw throughput: the emulator does not enforce ARM's limits here, so neither does the
        // client (the converge benchmark measures moat under the enforced limits).
        pacing: moat::azure::pacing::PacingConfig { enabled: false, ..Default::default() },
        max_concurrency_per_subscription: 64,
        lro: LroPolicy {
            // The emulator asks for Retry-After: 0; let the benchmark poll without waiting.
            poll_bounds: RetryAfterBounds {
                min: Duration::ZERO,
                max: Duration::from_secs(1),
            },
            default_poll_interval: Duration::ZERO,
            ..Default::default()
        },
        ..Default::default()
    };
    let client = ArmClient::new(config, Arc::new(StaticToken::new("bench"))).expect("client");

    // Fixture: a VNet with one subnet.
    let vnet_id = rid("Microsoft.Network/virtualNetworks/vnet-bench");
    let vnet = VirtualNetwork {
        location: Some("eastus".into()),
        properties: VirtualNetworkProperties {
            address_space: Some(AddressSpace {
                address_prefixes: Some(vec!["10.0.0.0/8".into()]),
                ipam_pool_prefix_allocations: None,
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    client.put(&vnet_id, &vnet).await.expect("vnet");
    let subnet = |i: usize| Subnet {
        properties: SubnetProperties {
            address_prefix: Some(format!("10.{}.{}.0/24", 1 + i / 250, i % 250)),
            ..Default::default()
        },
        ..Default::default()
    };
    client.put_subnet(&vnet_id, "s0", &subnet(0)).await.expect("subnet");
    let subnet_id = vnet_id.child("subnets", "s0").expect("id");

    println!(
        "{:<34} {:>4} {:>7} {:>10} {:>10} {:>8} {:>8} {:>8} {:>8}",
        "workload", "conc", "calls", "calls/s", "http/s", "cli p50", "cli p99", "emu p50", "emu p99"
    );
    println!("{:<34} {:>4} {:>7} {:>10} {:>10} {:>8} {:>8} {:>8} {:>8}", "", "", "", "", "", "ms", "ms", "ms", "ms");

    for conc in [1, 8, 32] {
        let c = &client;
        let id = &subnet_id;
        run("GET subnet", c, &admin, n(4000), conc, |_| async move {
            c.get::<Subnet>(id).await.expect("get");
        })
        .await
        .print();
    }

    // PUT route tables (distinct parents: no per-parent serialisation), synchronous completion
    // (pollsToComplete 0): PUT + nothing else.
    for conc in [1, 8, 32] {
        let c = &client;
        let tag = conc;
        run("PUT routeTable (done at once)", c, &admin, n(1500), conc, |i| async move {
            let id = rid(&format!("Microsoft.Network/routeTables/rt-{tag}-{i}"));
            let body = RouteTable {
                location: Some("eastus".into()),
                ..Default::default()
            };
            c.put(&id, &body).await.expect("put");
        })
        .await
        .print();
    }

    // Same with a real LRO: in progress for one poll (PUT, poll, poll, final GET).
    admin.update_config(&ConfigPatch {
        polls_to_complete: Some(1),
        ..Default::default()
    });
    for conc in [1, 8, 32] {
        let c = &client;
        let tag = conc;
        run("PUT routeTable (LRO, 2 polls)", c, &admin, n(1000), conc, |i| async move {
            let id = rid(&format!("Microsoft.Network/routeTables/lro-{tag}-{i}"));
            let body = RouteTable {
                location: Some("eastus".into()),
                ..Default::default()
            };
            c.put(&id, &body).await.expect("put");
        })
        .await
        .print();
    }

    // Subnets of one VNet: serialised per parent by the client (one write at a time).
    admin.update_config(&ConfigPatch {
        polls_to_complete: Some(0),
        ..Default::default()
    });
    {
        let c = &client;
        let v = &vnet_id;
        let sb = &subnet;
        run("PUT subnet, one VNet (serialised)", c, &admin, n(500), 8, |i| async move {
            c.put_subnet(v, &format!("s{}", i + 1), &sb(i + 1)).await.expect("put subnet");
        })
        .await
        .print();
    }
    emu.shutdown().await.expect("shutdown");
}
