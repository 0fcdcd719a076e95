#!/usr/bin/env bash
# Builds the production OCI image of moat without Docker: the binary built with
# `cargo build --locked --no-default-features --bin moat` (no ARM emulator), on a minimal root
# filesystem assembled from Debian packages (the distroless idea): only the shared libraries the
# binary links against, CA certificates, /etc/os-release, a passwd/group with the non-root user
# 65532 ("nonroot"), and the packages' dpkg records and copyright files. Packed with umoci into an
# OCI image layout; push it with skopeo:
#
#   scripts/build-image.sh                          # release build -> target/image/oci, tag <version>
#   scripts/build-image.sh --profile dev            # reuse the dev-profile binary (what CI does)
#   skopeo copy oci:target/image/oci:0.1.0 docker://<registry>/moat:0.1.0
#
# Options: --profile release|dev (default release), --out DIR (default $CARGO_TARGET_DIR/image).
# The tag and org.opencontainers.image.version come from Cargo.toml, .revision from git (else
# MOAT_GIT_REVISION, else unknown), .source from MOAT_IMAGE_SOURCE, else Cargo.toml's
# `repository`, else the git remote `origin`. The Dockerfile builds the same image with Docker:
# same cargo flags, user 65532:65532, entrypoint /moat, cmd run, port 8080, labels.
#
# Needs: root (file owners in the image), cargo, apt-get and dpkg-deb (Debian or Ubuntu), umoci
# (installed with apt-get when missing). Debian packages are cached under ${MOAT_CACHE:-~/.cache/moat}/image/debs.
# Prints the image reference (DIR:TAG) on stdout; progress goes to stderr.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
say() { printf 'build-image: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

profile=release
target="${CARGO_TARGET_DIR:-$root/target}"
out=""
while [[ $# -gt 0 ]]; do
	case "$1" in
	--profile) profile="${2:?--profile needs release or dev}"; shift 2 ;;
	--profile=*) profile="${1#*=}"; shift ;;
	--out) out="${2:?--out needs a directory}"; shift 2 ;;
	--out=*) out="${1#*=}"; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option $1 (see --help)" ;;
	esac
done
case "$profile" in
release) bin="$target/release/moat" ;;
dev) bin="$target/debug/moat" ;;
*) die "--profile $profile: use release (published images) or dev (CI, reuses the test build)" ;;
esac
out="${out:-$target/image}"
cache="${MOAT_CACHE:-$HOME/.cache/moat}/image"

# --- what goes on the labels -----------------------------------------------------------------
version="$(scripts/version.sh)"
revision="$(git rev-parse HEAD 2>/dev/null || true)"
revision="${revision:-${MOAT_GIT_REVISION:-unknown}}"
source="${MOAT_IMAGE_SOURCE:-$(sed -n '/^\[package\]/,/^\[/s/^repository *= *"\(.*\)"/\1/p' Cargo.toml)}"
if [[ -z "$source" ]]; then
	source="$(git remote get-url origin 2>/dev/null || true)"
	# git@host:owner/repo(.git) -> https://host/owner/repo
	source="$(sed -E 's#^git@([^:]+):#https://\1/#; s#\.git$##' <<<"$source")"
fi
if [[ -z "$source" ]]; then
	source=unknown
	say "warning: no source URL (set MOAT_IMAGE_SOURCE, Cargo.toml's repository, or a git remote origin); org.opencontainers.image.source=unknown"
fi
# Reproducible timestamps: the commit's time (SOURCE_DATE_EPOCH wins), else now.
epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
created="$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)"

# --- tools ---------------------------------------------------------------------------------------
# The layer records owners (root for everything, 65532 for /home/nonroot): umoci needs root for that.
[[ "$(id -u)" == 0 ]] || die "run as root (sudo, or a CI job): the image's files need their owners (root, and 65532 for /home/nonroot)"
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || die "apt-get and dpkg-deb are needed (Debian or Ubuntu)"
if ! command -v umoci >/dev/null; then
	say "installing umoci (apt-get)"
	apt-get install -y -q --no-install-recommends umoci >&2 ||
		{ apt-get update -q >&2 && apt-get install -y -q --no-install-recommends umoci >&2; } ||
		die "cannot install umoci with apt-get"
fi

# --- the binary ----------------------------------------------------------------------------------
say "building moat $version ($profile profile, no default features: no emulator)"
if [[ "$profile" == release ]]; then
	cargo build --locked --release --no-default-features --bin moat >&2
else
	cargo build --locked --no-default-features --bin moat >&2
fi
[[ -x "$bin" ]] || die "$bin was not built"
if "$bin" --help | grep -qiw emulator || grep -qaE '4moat8emulator|src/emulator/' "$bin"; then
	die "$bin contains the ARM emulator: build it with --no-default-features"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/moat-image.XXXXXX")"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
mkdir -p "$rootfs"
install -m 0755 "$bin" "$rootfs/moat"
strip --strip-unneeded "$rootfs/moat" 2>/dev/null || say "note: strip failed; the binary keeps its symbols"

# --- Debian packages -----------------------------------------------------------------------------
# The packages of the libraries the binary links against (ldd), of the CA bundle and os-release.
mapfile -t libs < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
((${#libs[@]})) || die "ldd found no shared libraries in $bin (a static binary needs no base; this script expects glibc)"
declare -A pkg_of=()
for lib in "${libs[@]}"; do
	owner="$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null || true)"
	[[ -n "$owner" ]] || die "no Debian package owns $lib"
	pkg_of["$lib"]="${owner%%:*}"
done
packages=("${pkg_of[@]}" ca-certificates base-files)
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)

# fetch_deb PKG: prints the path of PKG's .deb in the cache, downloaded with apt-get (which checks
# it against the signed archive indexes) if needed: the installed version (what the binary was
# linked against), else apt's candidate (newer; the installed one may have left the archive).
fetch_deb() {
	local pkg="$1" v deb versions=()
	versions+=("$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true)")
	versions+=("$(apt-cache policy "$pkg" 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" {print $2}')")
	for v in "${versions[@]}"; do
		[[ -n "$v" ]] || continue
		deb="$cache/debs/${pkg}_${v//:/%3a}_$(dpkg --print-architecture).deb"
		[[ -f "$deb" ]] || deb="$cache/debs/${pkg}_${v//:/%3a}_all.deb"
		if [[ -f "$deb" ]]; then printf '%s\n' "$deb"; return; fi
	done
	for v in "${versions[@]}" ""; do
		if [[ -z "$v" ]]; then
			say "updating apt's package lists"
			apt-get update -q >>"$work/apt.log" 2>&1 || true
			v="$(apt-cache policy "$pkg" 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" {print $2}')"
		fi
		[[ -n "$v" ]] || continue
		say "downloading $pkg $v"
		if (cd "$cache/debs" && apt-get download -q "$pkg=$v" >>"$work/apt.log" 2>&1); then
			find "$cache/debs" -maxdepth 1 -name "${pkg}_${v//:/%3a}_*.deb" -print -quit
			return
		fi
	done
	cat "$work/apt.log" >&2
	die "apt-get download $pkg failed"
}

mkdir -p "$cache/debs" "$work/pkgs"
debs=()
for pkg in "${packages[@]}"; do
	deb="$(fetch_deb "$pkg")"
	[[ -n "$deb" ]] || die "no .deb for $pkg"
	debs+=("$deb")
	dpkg-deb -x "$deb" "$work/pkgs/$pkg"
	# What vulnerability scanners read (as distroless does): one dpkg record per package.
	mkdir -p "$rootfs/var/lib/dpkg/status.d" "$rootfs/usr/share/doc/$pkg"
	dpkg-deb -f "$deb" >"$rootfs/var/lib/dpkg/status.d/$pkg"
	cp "$work/pkgs/$pkg/usr/share/doc/$pkg/copyright" "$rootfs/usr/share/doc/$pkg/" 2>/dev/null || true
done
say "packages: $(for d in "${debs[@]}"; do basename "$d" .deb; done | tr '\n' ' ')"

# copy_from_pkg PKG PATH: copies PATH (as the loader asks for it) from the extracted package,
# with every symlink on the way, resolving /lib <-> /usr/lib (merged /usr on the build host).
copy_from_pkg() {
	local pkg="$1" path="$2" tree="$work/pkgs/$1" candidate found="" link
	for candidate in "$path" "${path#/usr}" "/usr$path"; do
		if [[ -e "$tree$candidate" || -L "$tree$candidate" ]]; then found="$candidate"; break; fi
	done
	[[ -n "$found" ]] || die "$pkg does not ship $path"
	while :; do
		mkdir -p "$rootfs$(dirname "$found")"
		cp -P "$tree$found" "$rootfs$found"
		[[ -L "$tree$found" ]] || break
		link="$(readlink "$tree$found")"
		[[ "$link" == /* ]] || link="$(dirname "$found")/$link"
		found="$(realpath -m -s "$link")"
	done
}
for lib in "${libs[@]}"; do
	copy_from_pkg "${pkg_of[$lib]}" "$lib"
done

# The CA bundle, as update-ca-certificates builds it from the Mozilla set.
mkdir -p "$rootfs/etc/ssl/certs"
find "$work/pkgs/ca-certificates/usr/share/ca-certificates" -name '*.crt' -print0 | LC_ALL=C sort -z |
	xargs -0 cat >"$rootfs/etc/ssl/certs/ca-certificates.crt"
[[ -s "$rootfs/etc/ssl/certs/ca-certificates.crt" ]] || die "the CA bundle is empty"
cp "$work/pkgs/base-files/usr/lib/os-release" "$rootfs/etc/os-release"

# Users: root, nobody and nonroot (65532), as distroless has them.
cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
EOF
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
install -d -m 0700 "$rootfs/root"
install -d -m 0700 -o 65532 -g 65532 "$rootfs/home/nonroot"
install -d -m 1777 "$rootfs/tmp"
chmod -R u+rwX,go+rX,go-w "$rootfs/etc" "$rootfs/usr" "$rootfs/var"
chown -R 0:0 "$rootfs/etc" "$rootfs/usr" "$rootfs/var" "$rootfs/moat" "$rootfs/lib"* "$rootfs/root" "$rootfs/tmp"
find "$rootfs" -exec touch -h -d "@$epoch" {} +

# --- the OCI image -------------------------------------------------------------------------------
layout="$out/oci"
ref="$layout:$version"
mkdir -p "$out"
[[ -d "$layout" ]] || umoci init --layout "$layout"
umoci rm --image "$ref" 2>/dev/null || true
umoci new --image "$ref"
umoci unpack --image "$ref" "$work/bundle" >/dev/null
cp -a "$rootfs/." "$work/bundle/rootfs/"
umoci repack --image "$ref" --history.created "$created" --history.created_by "scripts/build-image.sh ($profile)" \
	--history.comment "moat $version and the files of ${packages[*]}" "$work/bundle"
labels=(
	"org.opencontainers.image.title=moat"
	"org.opencontainers.image.description=Kubernetes operator for network-isolated Azure Machine Learning workspaces"
	"org.opencontainers.image.licenses=Apache-2.0"
	"org.opencontainers.image.version=$version"
	"org.opencontainers.image.revision=$revision"
	"org.opencontainers.image.source=$source"
	"org.opencontainers.image.created=$created"
)
config=(--config.user 65532:65532 --config.entrypoint /moat --config.cmd run --config.workingdir /
	--config.exposedports 8080/tcp --config.env PATH=/usr/local/bin:/usr/bin:/bin
	--config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt --created "$created" --author moat --no-history)
for l in "${labels[@]}"; do config+=(--config.label "$l" --manifest.annotation "$l"); done
umoci config --image "$ref" "${config[@]}"
umoci gc --layout "$layout"

# The manifest digest of the tag, from the layout's index.
digest="$(tr -d ' \n' <"$layout/index.json" | grep -o "\"digest\":\"sha256:[0-9a-f]*\"[^}]*\"org.opencontainers.image.ref.name\":\"$version\"" | grep -o 'sha256:[0-9a-f]*' || true)"
size="$(du -sh "$layout/blobs" | cut -f1)"
say "built $ref${digest:+ ($digest)}, $size; user 65532, entrypoint /moat run"
say "push: skopeo copy oci:$ref docker://<registry>/moat:$version"
printf '%s\n' "$ref"
