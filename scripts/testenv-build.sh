#!/usr/bin/env bash
# Builds the test control plane from the pinned Go modules in tests/testenv:
# kube-apiserver, kubectl, etcd and the testenv launcher, plus helm from
# tests/testenv/helm. Binaries go to a cache folder keyed by version:
#
#   ${MOAT_CACHE:-$HOME/.cache/moat}/testenv/k8s-<version>/bin/
#   ${MOAT_CACHE:-$HOME/.cache/moat}/testenv/helm-<version>/bin/helm (linked as bin/helm)
#
# A build is skipped when its binaries exist and the hash of its inputs (go.mod,
# go.sum, Go sources, Go version, linker flags) matches the one stored beside
# them. Go's own module and build caches make a rebuild fast too. Progress goes
# to stderr: what is being built, then every MOAT_PROGRESS_SECONDS (default 30)
# one line with the elapsed time and the packages compiled so far; the bin dir
# is printed on stdout at the end.
#
# MOAT_TESTENV_SKIP_HELM=1 skips helm.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/tests/testenv"
cache="${MOAT_CACHE:-$HOME/.cache/moat}/testenv"

say() { printf 'testenv-build: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

command -v go >/dev/null || die "go is not on PATH (Go $(awk '$1 == "go" {print $2}' "$src/go.mod") or newer is needed)"
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false"

# module_version DIR MODULE: the version of MODULE that DIR/go.mod requires.
module_version() {
	local v
	v="$(cd "$1" && go list -m -f '{{.Version}}' "$2")" || die "cannot read the version of $2 from $1/go.mod"
	[[ -n "$v" ]] || die "$1/go.mod does not require $2"
	printf '%s' "$v"
}

# inputs_hash DIR LDFLAGS: hash of the Go version, the linker flags, and go.mod,
# go.sum and Go sources under DIR, leaving out the separate helm module.
inputs_hash() {
	{
		go version
		printf '%s\n' "$2"
		(cd "$1" && find . -path ./helm -prune -o -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 |
			LC_ALL=C sort -z | xargs -0 sha256sum)
	} | sha256sum | cut -d' ' -f1
}

# elapsed SECONDS: "1m05s".
elapsed() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# with_progress LABEL LOG COMMAND...: runs COMMAND with its stdout and stderr in
# LOG and, while it runs, says every MOAT_PROGRESS_SECONDS how long it has been
# running, how many lines (packages, with `go build -v`) LOG holds and the last
# one. Returns COMMAND's exit status.
with_progress() {
	local label="$1" log="$2" every="${MOAT_PROGRESS_SECONDS:-30}" start=$SECONDS next pid rc=0 n last
	shift 2
	"$@" >"$log" 2>&1 &
	pid=$!
	next=$((SECONDS + every))
	while kill -0 "$pid" 2>/dev/null; do
		sleep 1
		if ((SECONDS >= next)) && kill -0 "$pid" 2>/dev/null; then
			n="$(grep -c . "$log" || true)"
			last="$(tail -n 1 "$log")"
			say "$label: $(elapsed $((SECONDS - start))) elapsed, $n done${last:+, last: ${last:0:100}}"
			next=$((SECONDS + every))
		fi
	done
	wait "$pid" || rc=$?
	return "$rc"
}

# build NAME DIR OUT LDFLAGS PACKAGE...: build PACKAGEs of the module in DIR
# into OUT, unless OUT already holds them, built from the same inputs.
build() {
	local name="$1" dir="$2" out="$3" ldflags="-s -w $4"
	shift 4
	local hash pkg bin ok=1
	hash="$(inputs_hash "$dir" "$ldflags")"
	for pkg in "$@"; do
		bin="$out/$(basename "$pkg")"
		[[ -x "$bin" ]] || ok=0
	done
	if ((ok)) && [[ "$(cat "$out/.inputs-hash" 2>/dev/null)" == "$hash" ]]; then
		say "$name is up to date in $out"
		return
	fi
	say "building $name into $out (the first build takes several minutes)"
	local start=$SECONDS total
	mkdir -p "$(dirname "$out")"
	partial="$(mktemp -d "$out.tmp.XXXXXX")"
	# Resolving the packages downloads the modules they come from.
	with_progress "$name: downloading modules" "$partial/.list.log" \
		bash -c 'cd "$1" && shift && go list -deps "$@" >"$0"' "$partial/.packages" "$dir" "$@" ||
		die "resolving the packages of $name failed:$(printf '\n'; tail -n 20 "$partial/.list.log")"
	total="$(wc -l <"$partial/.packages")"
	say "$name: compiling up to $total packages on $(nproc) CPUs; those in Go's build cache are skipped"
	# `go build -v` names each package as it compiles it: that is the progress count.
	with_progress "$name: compiling" "$partial/.build.log" \
		bash -c 'cd "$0" && go build -v -trimpath -ldflags="$1" -o "$2/" "${@:3}"' "$dir" "$ldflags" "$partial" "$@" ||
		die "building $name failed:$(printf '\n'; tail -n 40 "$partial/.build.log")"
	rm -f "$partial/.packages" "$partial/.list.log" "$partial/.build.log"
	printf '%s\n' "$hash" >"$partial/.inputs-hash"
	rm -rf "$out"
	mv "$partial" "$out"
	partial=""
	say "built $name in $(elapsed $((SECONDS - start)))"
}

# A build in progress goes to a temporary folder, removed if the script stops early.
partial=""
trap '[[ -z "$partial" ]] || rm -rf "$partial"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$cache"
# One build at a time: parallel test binaries may all call this script.
exec 9>"$cache/.lock"
if ! flock -n 9; then
	say "waiting for another build to finish"
	flock 9
fi

k8s_version="$(module_version "$src" k8s.io/kubernetes)"
[[ "$k8s_version" =~ ^v([0-9]+)\.([0-9]+)\.[0-9]+$ ]] || die "unexpected k8s.io/kubernetes version $k8s_version"
# What Kubernetes' own build (hack/lib/version.sh) stamps; without it the
# binaries report v0.0.0-master+$Format:%H$, which kubectl cannot parse.
k8s_ldflags=""
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
	k8s_ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=${BASH_REMATCH[1]}"
	k8s_ldflags+=" -X $pkg.gitMinor=${BASH_REMATCH[2]} -X $pkg.gitTreeState=clean"
done
bin="$cache/k8s-$k8s_version/bin"
build "kube-apiserver $k8s_version, kubectl, etcd and testenv" "$src" "$bin" "$k8s_ldflags" \
	k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl ./cmd/etcd ./cmd/testenv

if [[ -f "$src/helm/go.mod" && "${MOAT_TESTENV_SKIP_HELM:-}" != 1 ]]; then
	helm_version="$(module_version "$src/helm" helm.sh/helm/v3)"
	client_go="$(module_version "$src/helm" k8s.io/client-go)"
	[[ "$client_go" =~ ^v0\.([0-9]+)\. ]] || die "unexpected k8s.io/client-go version $client_go in helm/go.mod"
	# As helm's Makefile does: its version, and the Kubernetes version that
	# `helm template` and `helm lint` assume (that of its k8s.io modules).
	helm_ldflags="-X helm.sh/helm/v3/internal/version.version=$helm_version -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
	for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
		helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=${BASH_REMATCH[1]}"
	done
	helm_bin="$cache/helm-$helm_version/bin"
	build "helm $helm_version" "$src/helm" "$helm_bin" "$helm_ldflags" helm.sh/helm/v3/cmd/helm
	ln -sfn "$helm_bin/helm" "$bin/helm"
else
	rm -f "$bin/helm"
fi

say "binaries are in $bin"
printf '%s\n' "$bin"
