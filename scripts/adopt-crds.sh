#!/usr/bin/env bash
# Hands the moat.dev CRDs installed by the 0.1.0 chart (from its crds/ directory, which Helm
# never upgrades) over to a Helm release, so that `helm upgrade` updates them from then on. Run it
# once, before the first `helm upgrade` to a chart with templated CRDs:
#
#   scripts/adopt-crds.sh RELEASE NAMESPACE    # e.g. scripts/adopt-crds.sh moat moat-system
#   helm upgrade RELEASE charts/moat -n NAMESPACE ...
#
# It only adds Helm's ownership label and annotations (no change to the CRDs' schema, no object
# touched). Uses kubectl from PATH (or $KUBECTL) and its usual KUBECONFIG.
set -euo pipefail
release="${1:?usage: adopt-crds.sh RELEASE NAMESPACE}"
namespace="${2:?usage: adopt-crds.sh RELEASE NAMESPACE}"
kubectl="${KUBECTL:-kubectl}"
for crd in secureworkspaces.moat.dev privateendpointbindings.moat.dev computesubnets.moat.dev; do
	if ! "$kubectl" get crd "$crd" >/dev/null 2>&1; then
		echo "adopt-crds: $crd is not installed; helm will create it" >&2
		continue
	fi
	"$kubectl" label crd "$crd" --overwrite app.kubernetes.io/managed-by=Helm >/dev/null
	"$kubectl" annotate crd "$crd" --overwrite \
		meta.helm.sh/release-name="$release" meta.helm.sh/release-namespace="$namespace" \
		helm.sh/resource-policy=keep >/dev/null
	echo "adopt-crds: $crd now belongs to release $namespace/$release" >&2
done
