{{/* Chart name (or nameOverride), truncated to the 63 characters of a DNS label. */}}
{{- define "moat.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped name of every namespaced object: fullnameOverride, else <release>-<name>
(just <release> when it already contains the name). */}}
{{- define "moat.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The leader-election Lease: one per install (<fullname>-leader unless set), so installs
sharded by `selector` never share one. */}}
{{- define "moat.leaseName" -}}
{{- default (printf "%s-leader" (include "moat.fullname" .)) .Values.leaderElection.leaseName }}
{{- end }}

{{/* Name of cluster-scoped objects: namespace-qualified so two releases never collide. */}}
{{- define "moat.clusterName" -}}
{{- printf "%s-%s" .Release.Namespace (include "moat.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "moat.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "moat.selectorLabels" -}}
app.kubernetes.io/name: {{ include "moat.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "moat.labels" -}}
helm.sh/chart: {{ include "moat.chart" . }}
{{ include "moat.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: moat
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "moat.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "moat.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create=false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "moat.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Metadata of a CRD rendered from files/crds: the chart's labels; kept on uninstall unless
crds.keep=false; applied first and server-side by Argo CD. */}}
{{- define "moat.crdMetadata" -}}
metadata:
  labels:
    {{- include "moat.labels" . | nindent 4 }}
  annotations:
    {{- if .Values.crds.keep }}
    helm.sh/resource-policy: keep
    {{- end }}
    argocd.argoproj.io/sync-wave: "-1"
    argocd.argoproj.io/sync-options: {{ ternary "ServerSideApply=true,Prune=false,Delete=false" "ServerSideApply=true" .Values.crds.keep }}
{{- end }}
