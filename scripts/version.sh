#!/usr/bin/env bash
# Prints moat's version: [package] version in Cargo.toml, the one place it is set. The chart's
# version and appVersion, the kustomize image tag and the image tag follow it
# (tests/chart_version.rs fails when they differ; scripts/build-image.sh tags with it).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$root/Cargo.toml")"
[[ -n "$version" ]] || { echo "version.sh: no [package] version in $root/Cargo.toml" >&2; exit 1; }
printf '%s\n' "$version"
