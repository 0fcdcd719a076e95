//! The README's first command, `scripts/demo.sh`, run as a user runs it: it must end with exit 0
//! and print the table of Azure resources moat created. Also: every script parses
//! (`bash -n`, which is what broke the demo once) and is executable, and `scripts/testenv-build.sh` reports
//! progress while it builds the control plane.
//!
//! The demo starts its own control plane and emulator; it uses the `moat` binary cargo built for
//! this test (`MOAT_BIN`) instead of running `cargo build` inside `cargo test`.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `bash script` with `env`, killed after `timeout`.
async fn run_script(script: &Path, env: &[(&str, &str)], timeout: Duration) -> Output {
    let mut command = tokio::process::Command::new("bash");
    command.arg(script).current_dir(repo()).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    let child = command.spawn().unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(out) => out.unwrap_or_else(|e| panic!("wait for {}: {e}", script.display())),
        Err(_) => panic!("{} did not finish within {timeout:?}", script.display()),
    }
}

#[test]
fn every_script_parses() {
    let mut checked = 0;
    for entry in std::fs::read_dir(repo().join("scripts")).expect("read scripts/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "sh") {
            let out = std::process::Command::new("bash").arg("-n").arg(&path).output().expect("run bash -n");
            assert!(out.status.success(), "{} does not parse:\n{}", path.display(), text(&out.stderr));
            let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).expect("stat").permissions());
            assert!(mode & 0o111 != 0, "{} is not executable (git update-index --chmod=+x)", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} scripts found");
}

#[tokio::test]
async fn demo_ends_with_exit_0_and_the_resource_table() {
    let started = Instant::now();
    let out = run_script(&repo().join("scripts/demo.sh"), &[("MOAT_BIN", env!("CARGO_BIN_EXE_moat"))], Duration::from_secs(900)).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "scripts/demo.sh failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}", out.status);

    // The table: header, then one row per resource, then the count.
    let lines: Vec<&str> = stdout.lines().collect();
    let header = lines.iter().position(|l| l.split_whitespace().collect::<Vec<_>>() == ["TYPE", "NAME", "STATE", "OWNER"]);
    let header = header.unwrap_or_else(|| panic!("no table header in the demo's output:\n{stdout}"));
    let rows: Vec<Vec<&str>> = lines[header + 1..].iter().take_while(|l| !l.trim().is_empty()).map(|l| l.split_whitespace().collect()).collect();
    let count = lines.iter().find_map(|l| l.strip_suffix(" resources")).and_then(|n| n.trim().parse::<usize>().ok());
    assert_eq!(count, Some(rows.len()), "the count line matches the rows:\n{stdout}");
    let row = |rtype: &str, name: &str| rows.iter().find(|r| r[0] == rtype && r[1] == name);
    for (rtype, name) in [
        ("workspaces", "mlw-prod"),
        ("virtualNetworks", "vnet-ml-prod"),
        ("virtualNetworks/subnets", "vnet-ml-prod/snet-training"),
        ("networkSecurityGroups", "nsg-training"),
        ("privateEndpoints", "pe-mlw-prod-amlworkspace"),
        ("privateEndpoints", "datalake-dfs"),
    ] {
        let r = row(rtype, name).unwrap_or_else(|| panic!("no {rtype} {name} row in the table:\n{stdout}"));
        assert_eq!(r[2], "Succeeded", "{rtype} {name}: {r:?}");
    }
    // What moat created carries its owner tag; the seeded data lake is not moat's.
    assert!(row("virtualNetworks", "vnet-ml-prod").is_some_and(|r| r[3].starts_with("SecureWorkspace")), "owner of the VNet:\n{stdout}");
    assert!(row("storageAccounts", "stdatalake01").is_some_and(|r| r[3..] == ["(not", "moat's)"]), "the seeded account is not moat's:\n{stdout}");
    assert!(stdout.contains("converged in "), "{stdout}");
    eprintln!("scripts/demo.sh took {:.1} s (control plane cached, moat prebuilt)", started.elapsed().as_secs_f64());
}

/// A stand-in for `go` that answers what scripts/testenv-build.sh asks: versions, the package
/// list, and a slow `go build -v` naming one package every 200 ms.
const FAKE_GO: &str = r#"#!/usr/bin/env bash
set -euo pipefail
case "$1" in
version) echo "go version go1.26.0 linux/amd64" ;;
list)
	if [[ "$2" == -m ]]; then
		case "${!#}" in
		k8s.io/kubernetes) echo v1.36.3 ;;
		*) echo v0.0.0 ;;
		esac
	else
		for i in $(seq 1 30); do echo "example.com/pkg$i"; done
	fi
	;;
build)
	[[ -z "${FAKE_GO_FAIL:-}" ]] || { echo "example.com/pkg1"; echo "cmd/x/main.go:3:1: syntax error: unexpected }" >&2; exit 1; }
	out=""
	while [[ $# -gt 0 ]]; do
		case "$1" in -o) out="$2"; shift 2 ;; *) last="$1"; shift ;; esac
	done
	for i in $(seq 1 15); do echo "example.com/pkg$i" >&2; sleep 0.2; done
	for p in kube-apiserver kubectl etcd testenv; do printf '#!/bin/sh\n' >"$out/$p"; chmod +x "$out/$p"; done
	;;
*) echo "fake go: unexpected $*" >&2; exit 2 ;;
esac
"#;

fn fake_go_dir(tmp: &Path) -> PathBuf {
    let dir = tmp.join("fake-go");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let go = dir.join("go");
    std::fs::write(&go, FAKE_GO).expect("write fake go");
    let mut perms = std::fs::metadata(&go).expect("stat").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&go, perms).expect("chmod");
    dir
}

#[tokio::test]
async fn control_plane_build_reports_what_it_builds_and_the_elapsed_time() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = format!("{}:{}", fake_go_dir(tmp.path()).display(), std::env::var("PATH").unwrap_or_default());
    let cache = tmp.path().join("cache");
    let cache = cache.to_str().expect("utf-8 path");
    let script = repo().join("scripts/testenv-build.sh");
    let env = [("PATH", path.as_str()), ("MOAT_CACHE", cache), ("MOAT_PROGRESS_SECONDS", "1"), ("MOAT_TESTENV_SKIP_HELM", "1")];

    let out = run_script(&script, &env, Duration::from_secs(60)).await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "testenv-build.sh failed:\n{stderr}");
    assert!(stderr.contains("building kube-apiserver v1.36.3, kubectl, etcd and testenv into"), "says what it builds:\n{stderr}");
    assert!(stderr.contains("compiling up to 30 packages"), "says how much there is to build:\n{stderr}");
    // Periodic lines: elapsed time, packages done so far (growing), the last one.
    let done: Vec<usize> = stderr
        .lines()
        .filter(|l| l.contains(": compiling: 0m0") && l.contains("s elapsed, "))
        .filter_map(|l| l.split("elapsed, ").nth(1)?.split(' ').next()?.parse().ok())
        .collect();
    assert!(done.len() >= 2, "at least two progress lines during a 3 s build:\n{stderr}");
    assert!(done.windows(2).all(|w| w[0] <= w[1]) && done.last() > done.first(), "the count grows: {done:?}\n{stderr}");
    assert!(stderr.contains("last: example.com/pkg"), "names the last package built:\n{stderr}");
    assert!(stderr.contains("built kube-apiserver v1.36.3, kubectl, etcd and testenv in 0m0"), "{stderr}");
    let lines = stderr.lines().count();
    assert!(lines < 20, "progress, not spam ({lines} lines):\n{stderr}");
    assert!(text(&out.stdout).trim().ends_with("testenv/k8s-v1.36.3/bin"), "prints the bin dir: {}", text(&out.stdout));

    // Built from the same inputs: nothing to do, no progress.
    let again = run_script(&script, &env, Duration::from_secs(60)).await;
    let stderr = text(&again.stderr);
    assert!(again.status.success() && stderr.contains("is up to date") && !stderr.contains("compiling"), "{stderr}");

    // A failing build shows the compiler's error, not just "failed".
    std::fs::remove_dir_all(tmp.path().join("cache")).expect("clear cache");
    let failed = run_script(&script, &[env[0], env[1], env[2], env[3], ("FAKE_GO_FAIL", "1")], Duration::from_secs(60)).await;
    let stderr = text(&failed.stderr);
    assert!(!failed.status.success(), "a failed build fails the script");
    assert!(stderr.contains("syntax error: unexpected }"), "the compiler error is shown:\n{stderr}");
}
