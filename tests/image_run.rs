//! The production image that `scripts/build-image.sh` builds (scripts/test.sh builds it before
//! the tests and passes `MOAT_IMAGE=<oci layout>:<tag>`): its labels, user and entrypoint agree
//! with Cargo.toml and the Dockerfile; the ARM emulator is not in it; and moat, run from inside the
//! image's root filesystem as user 65532, converges the samples against the test control plane and
//! the ARM emulator, watching two namespaces and only the objects its label selector picks.
//!
//! Unpacking (umoci) and entering the root filesystem (`unshare --root --setuid`) need root, as in
//! CI. Without `MOAT_IMAGE` the tests say loudly that they were skipped.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::Api;
use moat::api::{ComputeSubnet, PrivateEndpointBinding, SecureWorkspace};
use moat::emulator::EmulatorConfig;
use serde_json::{Value, json};
use support::e2e::{RG, SUB, TENANT, sample};

const CONVERGE: Duration = Duration::from_secs(180);
const SHARD: &str = "moat.dev/shard";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `MOAT_IMAGE` as (layout dir, tag), or None with a loud note.
fn image(test: &str) -> Option<(PathBuf, String)> {
    let Ok(reference) = std::env::var("MOAT_IMAGE") else {
        eprintln!(
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             !!! SKIPPED {test}: MOAT_IMAGE is not set.\n\
             !!! scripts/test.sh builds the image (scripts/build-image.sh) and sets it.\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
        );
        return None;
    };
    let (layout, tag) = reference.rsplit_once(':').unwrap_or_else(|| panic!("MOAT_IMAGE={reference} is not <layout>:<tag>"));
    Some((PathBuf::from(layout), tag.to_owned()))
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn blob(layout: &Path, digest: &str) -> Value {
    let hex = digest.strip_prefix("sha256:").unwrap_or_else(|| panic!("digest {digest}"));
    read_json(&layout.join("blobs/sha256").join(hex))
}

/// The image config of `tag` in the layout.
fn image_config(layout: &Path, tag: &str) -> Value {
    let index = read_json(&layout.join("index.json"));
    let manifest = index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no tag {tag} in {}/index.json: {index}", layout.display()));
    let manifest = blob(layout, manifest["digest"].as_str().expect("manifest digest"));
    blob(layout, manifest["config"]["digest"].as_str().expect("config digest"))
}

fn git_head() -> Option<String> {
    let out = std::process::Command::new("git").args(["rev-parse", "HEAD"]).current_dir(repo()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[test]
fn image_labels_user_and_entrypoint_agree_with_cargo_and_the_dockerfile() {
    let Some((layout, tag)) = image("image_labels_user_and_entrypoint_agree_with_cargo_and_the_dockerfile") else {
        return;
    };
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(tag, version, "the image tag is Cargo.toml's version");
    let config = image_config(&layout, &tag);
    let c = &config["config"];
    assert_eq!(c["User"], "65532:65532");
    assert_eq!(c["Entrypoint"], json!(["/moat"]));
    assert_eq!(c["Cmd"], json!(["run"]));
    assert!(c["ExposedPorts"].get("8080/tcp").is_some(), "{c}");
    let labels = &c["Labels"];
    assert_eq!(labels["org.opencontainers.image.version"], version);
    assert_eq!(labels["org.opencontainers.image.title"], "moat");
    assert_eq!(labels["org.opencontainers.image.licenses"], "Apache-2.0");
    match git_head() {
        Some(head) => assert_eq!(labels["org.opencontainers.image.revision"], head.as_str()),
        None => assert!(labels["org.opencontainers.image.revision"].as_str().is_some_and(|r| !r.is_empty())),
    }
    assert!(labels["org.opencontainers.image.source"].as_str().is_some_and(|s| !s.is_empty()), "{labels}");

    // The Dockerfile builds the same thing for users with Docker.
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).expect("read Dockerfile");
    for want in [
        "--locked --no-default-features --bin moat",
        "USER 65532:65532",
        r#"ENTRYPOINT ["/moat"]"#,
        r#"CMD ["run"]"#,
        "EXPOSE 8080",
        "org.opencontainers.image.source=",
        "org.opencontainers.image.version=",
        "org.opencontainers.image.revision=",
        "org.opencontainers.image.title=\"moat\"",
        "org.opencontainers.image.licenses=\"Apache-2.0\"",
    ] {
        assert!(dockerfile.contains(want), "the Dockerfile lacks `{want}`");
    }
    for from in dockerfile.lines().filter(|l| l.starts_with("FROM ")) {
        assert!(from.contains("@sha256:"), "base image not pinned by digest: {from}");
    }
}

/// `umoci unpack` of the image into a fresh directory; returns the root filesystem.
fn unpack(layout: &Path, tag: &str, into: &Path) -> PathBuf {
    let bundle = into.join("bundle");
    let out = std::process::Command::new("umoci")
        .args(["unpack", "--image", &format!("{}:{tag}", layout.display())])
        .arg(&bundle)
        .output()
        .unwrap_or_else(|e| panic!("run umoci (scripts/build-image.sh installs it): {e}"));
    assert!(out.status.success(), "umoci unpack: {}", String::from_utf8_lossy(&out.stderr));
    bundle.join("rootfs")
}

fn require_root() {
    let out = std::process::Command::new("id").arg("-u").output().expect("run id");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0",
        "unpacking the image and entering its root filesystem need root (CI runs as root)"
    );
}

/// `moat ARGS` from inside `rootfs`, as uid/gid 65532 with no supplementary groups.
fn in_image(rootfs: &Path) -> tokio::process::Command {
    let mut c = tokio::process::Command::new("unshare");
    c.arg(format!("--root={}", rootfs.display()))
        .args(["--setuid=65532", "--setgid=65532", "--wd=/", "/moat"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", "/home/nonroot")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    c
}

#[tokio::test]
async fn the_image_holds_only_moat_its_libraries_and_certificates_and_no_emulator() {
    let Some((layout, tag)) = image("the_image_holds_only_moat_its_libraries_and_certificates_and_no_emulator") else {
        return;
    };
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let rootfs = unpack(&layout, &tag, tmp.path());

    let mut top: Vec<String> = std::fs::read_dir(&rootfs).expect("read rootfs").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect();
    top.sort();
    assert_eq!(top, ["etc", "home", "lib", "lib64", "moat", "root", "tmp", "usr", "var"], "top level of the image");
    for absent in ["bin/sh", "usr/bin", "sbin", "usr/share/zoneinfo"] {
        assert!(!rootfs.join(absent).exists(), "/{absent} is in the image");
    }
    assert!(std::fs::metadata(rootfs.join("etc/ssl/certs/ca-certificates.crt")).expect("CA bundle").len() > 100_000);
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).expect("passwd");
    assert!(passwd.lines().any(|l| l.starts_with("nonroot:x:65532:65532:")), "{passwd}");

    // The emulator is neither a subcommand nor code in the binary.
    let help = in_image(&rootfs).arg("--help").output().await.expect("moat --help");
    let help_text = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success() && help_text.contains("run") && !help_text.to_lowercase().contains("emulator"), "{help_text}");
    let emulator = in_image(&rootfs).args(["emulator", "--help"]).output().await.expect("moat emulator");
    assert!(!emulator.status.success() && String::from_utf8_lossy(&emulator.stderr).contains("unrecognized subcommand"), "{emulator:?}");
    let bytes = std::fs::read(rootfs.join("moat")).expect("read /moat");
    for needle in ["4moat8emulator", "src/emulator/", "_emulator/state"] {
        assert!(!bytes.windows(needle.len()).any(|w| w == needle.as_bytes()), "/moat contains `{needle}`");
    }
    let version = in_image(&rootfs).arg("--version").output().await.expect("moat --version");
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    assert!(version.starts_with(&format!("moat {} (", env!("CARGO_PKG_VERSION"))), "{version}");
}

fn ready(conditions: Option<&Vec<Condition>>, generation: Option<i64>) -> bool {
    conditions.into_iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True" && c.observed_generation == generation)
}

fn labelled(mut obj: Value, ns: &str, shard: &str) -> Value {
    obj["metadata"]["namespace"] = json!(ns);
    obj["metadata"]["labels"] = json!({ SHARD: shard });
    obj
}

async fn apply(env: &support::testenv::TestEnv, obj: &Value) {
    let out = env.kubectl_with_stdin(["apply", "--server-side", "-f", "-"], obj.to_string().as_bytes()).await.expect("kubectl");
    assert!(out.status.success(), "apply: {}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moat_from_the_image_as_nonroot_converges_the_samples_in_its_namespaces_and_shard() {
    let Some((layout, tag)) = image("moat_from_the_image_as_nonroot_converges_the_samples_in_its_namespaces_and_shard") else {
        return;
    };
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let rootfs = unpack(&layout, &tag, tmp.path());
    let env = support::e2e::env().await;
    let (ns_a, ns_b, ns_c) = (env.namespace("image-a").await.expect("ns"), env.namespace("image-b").await.expect("ns"), env.namespace("image-c").await.expect("ns"));
    // The platform team's policy lets namespaces a and b use the test subscription (c too: it is
    // unwatched, and must stay untouched for that reason alone).
    for ns in [&ns_a, &ns_b, &ns_c] {
        support::tenancy::grant_harness_namespace(env, ns).await;
    }

    let cfg = EmulatorConfig::for_tests().with_resource_group(SUB, RG).with_resource_group(SUB, "rg-data");
    let emu = moat::emulator::start(cfg).await.expect("emulator");
    let lake = format!("/subscriptions/{SUB}/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/stdatalake01");
    let body = json!({"location": "westeurope", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}, "properties": {}});
    emu.admin.put_resource(&lake, body, Some("Succeeded")).expect("seed storage");

    // Shard a in the watched namespaces a and b; shard b, and an unwatched namespace, are not ours.
    for f in ["secureworkspace.yaml", "computesubnet-training.yaml", "computesubnet-inference.yaml"] {
        apply(env, &labelled(sample(f, &ns_a), &ns_a, "a")).await;
    }
    apply(env, &labelled(sample("privateendpointbinding.yaml", &ns_b), &ns_b, "a")).await;
    let mut other_shard = labelled(sample("computesubnet-training.yaml", &ns_b), &ns_b, "b");
    other_shard["metadata"]["name"] = json!("other-shard");
    apply(env, &other_shard).await;
    apply(env, &labelled(sample("privateendpointbinding.yaml", &ns_c), &ns_c, "a")).await;

    // The admin kubeconfig, readable by 65532 only, inside the image's /tmp.
    let kubeconfig = rootfs.join("tmp/kubeconfig");
    std::fs::copy(&env.kubeconfig, &kubeconfig).expect("copy kubeconfig");
    std::os::unix::fs::chown(&kubeconfig, Some(65532), Some(65532)).expect("chown kubeconfig");
    // The emulator's CA, inside the image's /tmp: moat trusts it with --arm-ca-file.
    std::fs::write(rootfs.join("tmp/emulator-ca.pem"), &emu.ca_pem).expect("write the emulator's CA");
    let log_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("moat-image-{ns_a}-{}.log", std::process::id()));
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut moat = in_image(&rootfs)
        .args(["run", "--kubeconfig", "/tmp/kubeconfig", "--leader-elect=false", "--metrics-addr", "127.0.0.1:0"])
        .args(["--arm-endpoint", &emu.base_url, "--arm-ca-file", "/tmp/emulator-ca.pem", "--credential", "static", "--tenant-id", TENANT])
        .args(["--namespace", &format!("{ns_a},{ns_b}"), "--selector", &format!("{SHARD}=a")])
        .args(["--resync-seconds", "30", "--retry-seconds", "1", "--busy-poll-seconds", "1"])
        .env("MOAT_ARM_STATIC_TOKEN", "image-token")
        .env("RUST_LOG", "info")
        .stdout(Stdio::from(log.try_clone().expect("log file")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start moat from the image");
    let pid = moat.id().expect("pid");
    let log_tail = || {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    };

    // It runs as 65532 inside the image's root (once unshare has entered it and exec'd moat).
    let ids = |field: &str| -> Vec<String> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status.lines().find(|l| l.starts_with(field)).map(|l| l.split_whitespace().skip(1).map(str::to_owned).collect()).unwrap_or_default()
    };
    let entered = support::eventually(Duration::from_secs(10), || async {
        let root = std::fs::read_link(format!("/proc/{pid}/root")).map_err(|e| e.to_string())?;
        if root == rootfs && ids("Uid:") != ["0"; 4] { Ok(()) } else { Err(format!("root {}, Uid {:?}", root.display(), ids("Uid:"))) }
    })
    .await;
    entered.unwrap_or_else(|e| panic!("moat did not enter the image as 65532: {e}\n{}", log_tail()));
    assert_eq!(ids("Uid:"), ["65532"; 4], "moat runs as user 65532 (real, effective, saved, fs)");
    assert_eq!(ids("Gid:"), ["65532"; 4], "and group 65532");
    assert!(ids("Groups:").is_empty(), "with no supplementary groups: {:?}", ids("Groups:"));

    let client = env.client();
    let deadline = tokio::time::Instant::now() + CONVERGE;
    let sws: Api<SecureWorkspace> = Api::namespaced(client.clone(), &ns_a);
    let csn: Api<ComputeSubnet> = Api::namespaced(client.clone(), &ns_a);
    let peb_b: Api<PrivateEndpointBinding> = Api::namespaced(client.clone(), &ns_b);
    loop {
        if let Ok(Some(status)) = moat.try_wait() {
            panic!("moat exited ({status}):\n{}", log_tail());
        }
        let w = sws.get("ml-prod").await.expect("get sws");
        let t = csn.get("training").await.expect("get csn");
        let i = csn.get("inference").await.expect("get csn");
        let p = peb_b.get("datalake-dfs").await.expect("get peb");
        let all = [
            ready(w.status.as_ref().map(|s| &s.conditions), w.metadata.generation),
            ready(t.status.as_ref().map(|s| &s.conditions), t.metadata.generation),
            ready(i.status.as_ref().map(|s| &s.conditions), i.metadata.generation),
            ready(p.status.as_ref().map(|s| &s.conditions), p.metadata.generation),
        ];
        if all.iter().all(|r| *r) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not Ready within {CONVERGE:?} (ml-prod, training, inference, datalake-dfs in {ns_b}: {all:?})\nmoat log:\n{}", log_tail());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The bindings the workspace owns carry its shard label (so this install reconciles them).
    let owned: Api<PrivateEndpointBinding> = Api::namespaced(client.clone(), &ns_a);
    let owned = owned.list(&Default::default()).await.expect("list bindings");
    assert!(!owned.items.is_empty(), "the workspace created its bindings");
    for b in &owned.items {
        assert_eq!(b.metadata.labels.as_ref().and_then(|l| l.get(SHARD)).map(String::as_str), Some("a"), "{:?}", b.metadata.name);
        assert!(ready(b.status.as_ref().map(|s| &s.conditions), b.metadata.generation), "{:?} Ready", b.metadata.name);
    }
    // Another shard, and a namespace not watched: untouched (no status, no finalizer).
    let other = Api::<ComputeSubnet>::namespaced(client.clone(), &ns_b).get("other-shard").await.expect("get");
    assert!(other.status.is_none() && other.metadata.finalizers.is_none(), "shard b was reconciled: {:?}", other.status);
    let unwatched = Api::<PrivateEndpointBinding>::namespaced(client.clone(), &ns_c).get("datalake-dfs").await.expect("get");
    assert!(unwatched.status.is_none() && unwatched.metadata.finalizers.is_none(), "{ns_c} was reconciled: {:?}", unwatched.status);

    let _ = moat.start_kill();
    let _ = moat.wait().await;
}
