#!/usr/bin/env bash
# Builds the production binary exactly as the Dockerfile does (release, --locked, no default
# features, so the ARM emulator is left out) and checks that the emulator did not slip in.
#
#   scripts/check-prod-build.sh            # build + checks
#   CARGO_TARGET_DIR=... scripts/check-prod-build.sh
#
# Prints the build time. A cold release build takes several minutes on 2 cores.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
say() { printf 'check-prod-build: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

target="${CARGO_TARGET_DIR:-$root/target}"
bin="$target/release/moat"

# The feature graph the image gets: `emulator` must not be enabled.
features="$(cargo tree --locked --no-default-features -e features -i moat --prefix none 2>/dev/null | grep -E '^moat feature' || true)"
if grep -q '"emulator"' <<<"$features"; then
	die "the emulator feature is enabled without default features:\n$features"
fi

start=$SECONDS
cargo build --release --locked --no-default-features --bin moat
elapsed=$((SECONDS - start))
[[ -x "$bin" ]] || die "$bin was not built"

# The binary must start and know its subcommands without any cluster.
"$bin" --version >/dev/null || die "$bin --version failed"
if "$bin" --help | grep -qE '^ +run '; then
	"$bin" run --help >/dev/null || die "$bin run --help failed"
else
	say "note: the binary has no \`run\` subcommand yet; skipped \`moat run --help\`"
fi
# No emulator subcommand or symbols in the production binary.
if "$bin" --help | grep -qiw emulator; then
	die "the production binary offers an emulator subcommand"
fi
# Emulator code would leave its mangled symbols (4moat8emulator) or its source paths
# (src/emulator/, in panic locations) in the binary.
if grep -qaE '4moat8emulator|src/emulator/' "$bin"; then
	die "the production binary contains moat::emulator code"
fi

size="$(du -h "$bin" | cut -f1)"
say "ok: release build without the emulator took ${elapsed}s; $bin is $size"
