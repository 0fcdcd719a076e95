#!/usr/bin/env bash
# Runs every moat test on a fresh machine: builds the pinned Kubernetes control plane (cached
# under ${MOAT_CACHE:-~/.cache/moat}), checks formatting-free lint, the production build without
# the emulator and its OCI image (scripts/build-image.sh; installs umoci with apt-get if missing),
# and runs the whole cargo test suite (unit, property, admission on a real kube-apiserver,
# emulator, ARM client, chart RBAC and upgrades, the image, the demo script, end to end).
#
#   scripts/test.sh            # everything
#   scripts/test.sh e2e        # extra args go to `cargo test` (a filter, say)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
say() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'test.sh: error: %s\n' "$*" >&2; exit 1; }

export MOAT_CACHE="${MOAT_CACHE:-$HOME/.cache/moat}"
# One target dir for every checkout of moat on this machine: a second run (or CI after a
# session) compiles only what changed.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$MOAT_CACHE/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# No backtraces by default: an end-to-end test's panic message ends with moat's log, which a
# backtrace of the test's own frames would push out of a CI excerpt (set RUST_BACKTRACE=1 to
# have them).
export RUST_BACKTRACE="${RUST_BACKTRACE:-0}"

command -v cargo >/dev/null || die "cargo is not on PATH: install Rust 1.89 or newer (rustup)"
command -v go >/dev/null || die "go is not on PATH: install Go $(awk '$1 == "go" {print $2}' tests/testenv/go.mod) or newer"
if ! cargo clippy --version >/dev/null 2>&1; then
	rustup component add clippy || die "clippy is missing and rustup could not add it"
fi

say "control plane (kube-apiserver, etcd, kubectl, helm) from pinned Go modules"
start=$SECONDS
scripts/testenv-build.sh >/dev/null
say "control plane ready in $((SECONDS - start)) s"

say "fetch crates"
cargo fetch --locked

say "clippy"
cargo clippy --locked --all-targets -- -D warnings

say "production build (no emulator inside)"
cargo build --locked --no-default-features --bin moat
prod="$CARGO_TARGET_DIR/debug/moat"
"$prod" --help | grep -qiw emulator && die "the production build offers the emulator"
"$prod" run --help >/dev/null

say "production image (scripts/build-image.sh from the binary above; tests/image_run.rs runs moat from it)"
# The dev profile reuses the build above: a release build would add ~20 min on 2 cores. The
# published image (and the Dockerfile) use --profile release; the cargo flags are the same.
start=$SECONDS
MOAT_IMAGE="$(scripts/build-image.sh --profile dev)"
export MOAT_IMAGE
say "image $MOAT_IMAGE built in $((SECONDS - start)) s"

say "tests"
cargo test --locked "$@"
