#!/usr/bin/env bash
# moat and Azure Service Operator v2 side by side, against the same ARM emulator, in one run.
# Run by hand (CI does not build ASO: ~5 GB of RAM and minutes of compiling, cached afterwards).
#
#   scripts/bench-aso.sh           # build ASO once (cached), then run both and print the table
#   scripts/bench-aso.sh build     # only build (and cache) ASO and its CRDs
#
# What it does (facts in docs/benchmarks.md and ../shared/docs/aso-side-by-side.md):
# - builds ASO v2.20.0 from the Go module proxy into $MOAT_CACHE/aso/v2.20.0: the module copied
#   out of GOMODCACHE, its controller registry trimmed to the `network` and `resources` groups
#   (scripts/aso-trim.py through `go build -overlay`; no source edit), and CRDs for those groups
#   from controller-gen v0.23.0;
# - starts the loopback control plane, the ARM emulator (HTTPS, ARM's public-cloud limits
#   enforced, its managed-identity endpoint) and both operators, each with its own managed
#   identity, the same sync period and the emulator's CA;
# - gives each a workload ASO can express: a VNet, subnets, an NSG with rules, a route table with
#   routes, a private endpoint, a privatelink zone with a VNet link and a zone group (moat: the
#   sample SecureWorkspace and a ComputeSubnet, which also create what a secure workspace needs);
# - waits until everything is Ready, then watches steady state for ASO_BENCH_STEADY_SECONDS
#   (default 300, ≥ 3 sync periods of ASO_BENCH_SYNC_SECONDS, default 60) and prints, per
#   managed resource: writes and reads per hour at steady state, converge time, refused writes,
#   and each operator's peak RSS.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export MOAT_CACHE="${MOAT_CACHE:-$HOME/.cache/moat}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$MOAT_CACHE/target}"
ASO_VERSION=v2.20.0
CONTROLLER_GEN_VERSION=v0.23.0
ASO_MODULE=github.com/Azure/azure-service-operator/v2
cache="$MOAT_CACHE/aso/$ASO_VERSION"
sync_s="${ASO_BENCH_SYNC_SECONDS:-60}"
steady_s="${ASO_BENCH_STEADY_SECONDS:-300}"
say() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
die() { printf 'bench-aso: error: %s\n' "$*" >&2; exit 1; }
command -v go >/dev/null || die "go is not on PATH"
command -v python3 >/dev/null || die "python3 is not on PATH"
command -v curl >/dev/null || die "curl is not on PATH"

build_aso() {
	mkdir -p "$cache"
	if [[ ! -x "$cache/aso-controller" ]]; then
		say "building ASO $ASO_VERSION (trimmed to network + resources; ~5 min, ~5 GB; cached in $cache)"
		local dir
		dir="$(go mod download -json "$ASO_MODULE@$ASO_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
		rm -rf "$cache/src"
		cp -r "$dir" "$cache/src"
		chmod -R u+w "$cache/src"
		(cd "$cache/src" && go mod download)
		local gen="$cache/src/internal/controllers/controller_resources_gen.go"
		python3 "$root/scripts/aso-trim.py" "$gen" "$cache/controller_resources_gen.go" network resources
		printf '{"Replace": {"%s": "%s"}}\n' "$gen" "$cache/controller_resources_gen.go" >"$cache/overlay.json"
		(cd "$cache/src" && GOFLAGS=-buildvcs=false go build -overlay "$cache/overlay.json" -o "$cache/aso-controller.tmp" ./cmd/controller)
		mv "$cache/aso-controller.tmp" "$cache/aso-controller"
	fi
	if [[ ! -s "$cache/crds.yaml" ]]; then
		say "generating ASO's CRDs for network and resources (controller-gen $CONTROLLER_GEN_VERSION)"
		GOBIN="$cache/bin" go install "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_GEN_VERSION"
		rm -rf "$cache/crds" && mkdir -p "$cache/crds"
		(cd "$cache/src" && "$cache/bin/controller-gen" "crd:allowDangerousTypes=true,maxDescLen=0" \
			paths=./api/network/... paths=./api/resources/... "output:crd:dir=$cache/crds")
		# ASO only considers CRDs with its label.
		python3 - "$cache/crds" "$cache/crds.yaml" <<-'EOF'
			import os, sys
			src, out = sys.argv[1], sys.argv[2]
			docs = []
			for f in sorted(os.listdir(src)):
			    text = open(os.path.join(src, f)).read()
			    text = text.replace("metadata:\n", "metadata:\n  labels:\n    app.kubernetes.io/name: azure-service-operator\n", 1)
			    docs.append(text if text.startswith("---") else "---\n" + text)
			open(out, "w").write("".join(docs))
		EOF
	fi
	ls -la "$cache/aso-controller" "$cache/crds.yaml" >&2
}

build_aso
[[ "${1:-}" == "build" ]] && exit 0

SUB=6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b
TENANT=0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9
work="$(mktemp -d "${TMPDIR:-/tmp}/moat-aso.XXXXXX")"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	exec 3>&- 2>/dev/null || true
	wait 2>/dev/null || true
	[[ -n "${ASO_BENCH_KEEP:-}" ]] || rm -rf "$work"
}
trap cleanup EXIT

say "building moat and the control plane (cached)"
bin="$(scripts/testenv-build.sh)"
cargo build --locked --release --bin moat
moat="$CARGO_TARGET_DIR/release/moat"

say "starting kube-apiserver and etcd on loopback"
mkfifo "$work/launcher.in"
"$bin/testenv" --bin-dir "$bin" <"$work/launcher.in" >"$work/launcher.json" 2>"$work/launcher.log" &
pids+=($!)
exec 3>"$work/launcher.in"
for _ in $(seq 1 300); do [[ -s "$work/launcher.json" ]] && break; sleep 0.2; done
[[ -s "$work/launcher.json" ]] || { cat "$work/launcher.log" >&2; die "the control plane did not start"; }
kubeconfig="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["kubeconfig"])' "$work/launcher.json")"
kubectl() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }

say "starting the ARM emulator (HTTPS, public-cloud limits enforced)"
ca="$work/emulator-ca.pem"
"$moat" emulator --listen 127.0.0.1:0 --polls 1 --retry-after 1 --ca-file "$ca" --enforce-rate-limits \
	--token "unused-$RANDOM$RANDOM" --identity-header bench-identity-header \
	--seed-resource-group "$SUB/rg-ml-prod" --seed-resource-group "$SUB/rg-data" >"$work/emulator.url" 2>"$work/emulator.log" &
emu_pid=$!
pids+=($emu_pid)
for _ in $(seq 1 100); do [[ -s "$work/emulator.url" ]] && break; sleep 0.1; done
arm="$(head -n1 "$work/emulator.url")"
[[ -n "$arm" ]] || die "the emulator did not start: $(cat "$work/emulator.log")"
acurl() { curl -fsS --cacert "$ca" "$@"; }
# The private endpoints' target (both operators): an existing storage account.
acurl -X POST "$arm/_emulator/resources" -H 'content-type: application/json' \
	-d "{\"id\": \"/subscriptions/$SUB/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/stbenchtarget\", \"body\": {\"location\": \"westeurope\", \"kind\": \"StorageV2\", \"sku\": {\"name\": \"Standard_LRS\"}, \"properties\": {}}}" >/dev/null

say "installing the CRDs (moat's, and ASO's network + resources)"
kubectl apply --server-side -f crds/ >/dev/null
kubectl apply --server-side -f "$cache/crds.yaml" >/dev/null
kubectl wait --for=condition=Established --timeout=120s crd --all >/dev/null
kubectl create namespace moat-bench >/dev/null
# moat touches Azure for a namespace only as an AzureScopePolicy allows (docs/tenancy.md): the
# sample policy's grant (rg-ml-prod, moat's own identity), for this namespace.
sed 's/name: ml-platform/name: moat-bench/; s/names: \[ml-platform\]/names: [moat-bench]/' config/samples/azurescopepolicy.yaml | kubectl apply -f - >/dev/null
kubectl create namespace aso-bench >/dev/null
kubectl create namespace azureserviceoperator-system >/dev/null

say "starting ASO and moat (each its own managed identity; sync period ${sync_s} s)"
IDENTITY_ENDPOINT="$arm/msi/token" IDENTITY_HEADER=bench-identity-header SSL_CERT_FILE="$ca" \
	AZURE_RESOURCE_MANAGER_ENDPOINT="$arm" AZURE_RESOURCE_MANAGER_AUDIENCE="https://management.azure.com/" \
	AZURE_AUTHORITY_HOST="https://login.microsoftonline.com/" AZURE_SUBSCRIPTION_ID="$SUB" AZURE_TENANT_ID="$TENANT" \
	POD_NAMESPACE=azureserviceoperator-system AZURE_OPERATOR_MODE=watchers AZURE_TARGET_NAMESPACES=aso-bench \
	AZURE_SYNC_PERIOD="${sync_s}s" KUBECONFIG="$kubeconfig" \
	"$cache/aso-controller" --crd-management=none --enable-leader-election=false --metrics-addr=0 --health-addr=127.0.0.1:0 \
	>"$work/aso.log" 2>&1 &
aso_pid=$!
pids+=($aso_pid)
IDENTITY_ENDPOINT="$arm/msi/token" IDENTITY_HEADER=bench-identity-header AZURE_CLIENT_ID=moat-bench-identity \
	"$moat" run --kubeconfig "$kubeconfig" --arm-endpoint "$arm" --arm-ca-file "$ca" --credential managed \
	--leader-elect=false --metrics-addr 127.0.0.1:0 --tenant-id "$TENANT" --namespace moat-bench \
	--resync-seconds "$sync_s" --retry-seconds 10 >"$work/moat.log" 2>&1 &
moat_pid=$!
pids+=($moat_pid)
sleep 5
kill -0 "$aso_pid" 2>/dev/null || { tail -n 40 "$work/aso.log" >&2; die "ASO exited"; }
kill -0 "$moat_pid" 2>/dev/null || { tail -n 40 "$work/moat.log" >&2; die "moat exited"; }

say "applying both workloads"
sed 's/namespace: ml-platform/namespace: moat-bench/' config/samples/secureworkspace.yaml | kubectl apply -f - >/dev/null
sed 's/namespace: ml-platform/namespace: moat-bench/' config/samples/computesubnet-training.yaml | kubectl apply -f - >/dev/null
python3 "$root/scripts/aso-workload.py" "$SUB" | kubectl apply -f - >/dev/null
t0=$(date +%s.%N)

say "waiting until everything is Ready (at most 15 minutes)"
moat_done=""
aso_done=""
for _ in $(seq 1 900); do
	if [[ -z "$moat_done" ]] && kubectl wait --for=condition=Ready --timeout=0 -n moat-bench sws/ml-prod csn/training >/dev/null 2>&1; then
		moat_done=$(date +%s.%N)
	fi
	if [[ -z "$aso_done" ]]; then
		total=$(kubectl get -n aso-bench -o name "$(python3 "$root/scripts/aso-workload.py" --kinds)" 2>/dev/null | wc -l)
		ready=$(kubectl get -n aso-bench "$(python3 "$root/scripts/aso-workload.py" --kinds)" -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null | grep -c True || true)
		[[ "$total" -gt 0 && "$ready" == "$total" ]] && aso_done=$(date +%s.%N)
	fi
	[[ -n "$moat_done" && -n "$aso_done" ]] && break
	sleep 1
done
[[ -n "$moat_done" ]] || { tail -n 40 "$work/moat.log" >&2; die "moat's objects are not Ready"; }
[[ -n "$aso_done" ]] || { kubectl get -n aso-bench "$(python3 "$root/scripts/aso-workload.py" --kinds)" >&2; tail -n 40 "$work/aso.log" >&2; die "ASO's objects are not Ready"; }
converged_seq=$(acurl "$arm/_emulator/requests?since=999999999" | python3 -c 'import json,sys; print(json.load(sys.stdin)["lastSeq"])')

say "steady state: watching ${steady_s} s"
sleep "$steady_s"
acurl "$arm/_emulator/requests" >"$work/requests.json"
acurl "$arm/_emulator/state" >"$work/state.json"
hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
python3 "$root/scripts/aso-report.py" "$work/requests.json" "$work/state.json" "$converged_seq" "$steady_s" "$sync_s" \
	"$(python3 -c "print($moat_done - $t0)")" "$(python3 -c "print($aso_done - $t0)")" "$(hwm "$moat_pid")" "$(hwm "$aso_pid")"
if [[ -n "${ASO_BENCH_KEEP:-}" ]]; then echo "logs kept in $work" >&2; fi
