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
# Every moat.dev CRD the cluster has (the chart may add kinds, such as AzureScopePolicy).
crds="$("$kubectl" get crd -o name | sed -n 's#^customresourcedefinition.apiextensions.k8s.io/\(.*\.moat\.dev\)$#\1#p')"
if [ -z "$crds" ]; then
	echo "adopt-crds: no moat.dev CRD is installed; helm will create them" >&2
fi
for crd in $crds; do
	"$kubectl" label crd "$crd" --overwrite app.kubernetes.io/managed-by=Helm >/dev/null
	"$kubectl" annotate crd "$crd" --overwrite \
		meta.helm.sh/release-name="$release" meta.helm.sh/release-namespace="$namespace" \
		helm.sh/resource-policy=keep >/dev/null
	echo "adopt-crds: $crd now belongs to release $namespace/$release" >&2
done
