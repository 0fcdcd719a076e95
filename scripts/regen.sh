#!/usr/bin/env bash
# Regenerates every generated, committed artifact from the Rust sources: the CRDs (crds/, the Helm
# chart's and kustomize's copies) and the constraint catalog (docs/constraints.md). Tests check
# each for drift (tests/crds.rs, tests/chart_crds.rs, tests/constraints_doc.rs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${MOAT_CACHE:-$HOME/.cache/moat}/target}"
cargo build --quiet --bin moat
moat="$CARGO_TARGET_DIR/debug/moat"
for dir in crds charts/moat/files/crds config/crd/bases; do
	"$moat" crds --out-dir "$dir"
done
"$moat" validate --catalog > docs/constraints.md
echo "regenerated: crds/, charts/moat/files/crds/, config/crd/bases/, docs/constraints.md"
