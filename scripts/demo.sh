#!/usr/bin/env bash
# The moat demo on a fresh machine, loopback only: builds and starts a real Kubernetes control
# plane (kube-apiserver + etcd from pinned Go modules), the local ARM emulator and moat; applies
# the CRDs and the samples; waits until they are Ready; then shows the conditions and the Azure
# resources moat created, as a table. Everything stops when the script exits.
#
#   scripts/demo.sh            # run, show, stop
#   MOAT_DEMO_KEEP=1 scripts/demo.sh   # keep everything running until Ctrl-C
#   MOAT_BIN=path/to/moat scripts/demo.sh   # use this moat binary instead of `cargo build`
#
# tests/demo_script.rs runs this script and checks it ends with exit 0 and the table.
set -euo pipefail
demo_start=$SECONDS

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export MOAT_CACHE="${MOAT_CACHE:-$HOME/.cache/moat}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$MOAT_CACHE/target}"
if [[ -t 2 ]]; then
	say() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
else
	say() { printf '\n== %s\n' "$*" >&2; }
fi
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }
command -v cargo >/dev/null || die "cargo is not on PATH: install Rust 1.89 or newer"
command -v go >/dev/null || die "go is not on PATH"
command -v python3 >/dev/null || die "python3 is not on PATH (used to print the resource table)"

SUB=6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b
TENANT=0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9
work="$(mktemp -d "${TMPDIR:-/tmp}/moat-demo.XXXXXX")"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	exec 3>&- 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

say "building the control plane (cached after the first run) and moat"
bin="$(scripts/testenv-build.sh)"
if [[ -n "${MOAT_BIN:-}" ]]; then
	moat="$MOAT_BIN"
	[[ -x "$moat" ]] || die "MOAT_BIN=$moat is not an executable"
else
	cargo build --locked --bin moat
	moat="$CARGO_TARGET_DIR/debug/moat"
fi

say "starting kube-apiserver and etcd on loopback"
# The launcher lives as long as its stdin stays open (fd 3 below).
mkfifo "$work/launcher.in"
"$bin/testenv" --bin-dir "$bin" <"$work/launcher.in" >"$work/launcher.json" 2>"$work/launcher.log" &
pids+=($!)
exec 3>"$work/launcher.in"
for _ in $(seq 1 300); do [[ -s "$work/launcher.json" ]] && break; sleep 0.2; done
[[ -s "$work/launcher.json" ]] || { cat "$work/launcher.log" >&2; die "the control plane did not start"; }
kubeconfig="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["kubeconfig"])' "$work/launcher.json")"
kubectl() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }

say "starting the ARM emulator (HTTPS; its CA goes to $work/emulator-ca.pem)"
ca="$work/emulator-ca.pem"
"$moat" emulator --listen 127.0.0.1:0 --polls 2 --retry-after 1 --ca-file "$ca" \
	--seed-resource-group "$SUB/rg-ml-prod" --seed-resource-group "$SUB/rg-data" >"$work/emulator.url" 2>"$work/emulator.log" &
pids+=($!)
for _ in $(seq 1 100); do [[ -s "$work/emulator.url" ]] && break; sleep 0.1; done
arm="$(head -n1 "$work/emulator.url")"
[[ -n "$arm" ]] || die "the emulator did not start: $(cat "$work/emulator.log")"
echo "ARM emulator at $arm"
# The standalone PrivateEndpointBinding sample targets an existing data-lake account.
curl -fsS --cacert "$ca" -X POST "$arm/_emulator/resources" -H 'content-type: application/json' \
	-d "{\"id\": \"/subscriptions/$SUB/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/stdatalake01\", \"body\": {\"location\": \"westeurope\", \"kind\": \"StorageV2\", \"sku\": {\"name\": \"Standard_LRS\"}, \"properties\": {}}, \"provisioningState\": \"Succeeded\"}" >/dev/null

say "installing the CRDs and applying the samples"
kubectl apply --server-side -f crds/
kubectl wait --for=condition=Established --timeout=60s crd/secureworkspaces.moat.dev crd/privateendpointbindings.moat.dev crd/computesubnets.moat.dev crd/azurescopepolicies.moat.dev
kubectl apply -f config/samples/namespace.yaml
kubectl apply -f config/samples/
kubectl get sws,peb,csn -n ml-platform

say "starting moat"
MOAT_ARM_STATIC_TOKEN=demo "$moat" run --kubeconfig "$kubeconfig" --arm-endpoint "$arm" --arm-ca-file "$ca" --credential static \
	--leader-elect=false --metrics-addr 127.0.0.1:0 --tenant-id "$TENANT" --resync-seconds 30 --retry-seconds 2 --busy-poll-seconds 1 \
	>"$work/moat.log" 2>&1 &
pids+=($!)

say "waiting until everything is Ready"
start=$SECONDS
if ! kubectl wait --for=condition=Ready --timeout=300s -n ml-platform sws/ml-prod csn/training csn/inference peb/datalake-dfs; then
	tail -n 40 "$work/moat.log" >&2
	die "not Ready in time"
fi
echo "converged in $((SECONDS - start)) s"

say "moat objects"
kubectl get sws,peb,csn -n ml-platform
say "conditions of the SecureWorkspace"
kubectl get sws ml-prod -n ml-platform -o jsonpath='{range .status.conditions[*]}{.type}{"\t"}{.status}{"\t"}{.reason}{"\t"}{.message}{"\n"}{end}' | column -t -s $'\t'
say "constraint findings"
kubectl get sws ml-prod -n ml-platform -o jsonpath='{range .status.findings[*]}{.severity}{"\t"}{.id}{"\t"}{.message}{"\n"}{end}'
kubectl get csn -n ml-platform -o jsonpath='{range .items[*]}{range .status.findings[*]}{.severity}{"\t"}{.id}{"\t"}{.message}{"\n"}{end}{end}'

say "the Azure resources moat created (from the ARM emulator)"
curl -fsS --cacert "$ca" "$arm/_emulator/state" | python3 "$root/scripts/demo-table.py"
echo "demo finished in $((SECONDS - demo_start)) s"

if [[ -n "${MOAT_DEMO_KEEP:-}" ]]; then
	say "running; kubeconfig: $kubeconfig, ARM: $arm. Ctrl-C stops everything."
	wait
fi
