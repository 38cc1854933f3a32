{{/*
Names. Kubernetes names are at most 63 characters (DNS label), so every name is cut
there and loses a trailing "-". Component suffixes are added before cutting.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "tokenplane.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* "<release>-<chart>", or the release name when it already holds the chart name. */}}
{{- define "tokenplane.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A component's resource name: (dict "context" $ "suffix" "etcd") -> "<fullname>-etcd". */}}
{{- define "tokenplane.componentName" -}}
{{- printf "%s-%s" (include "tokenplane.fullname" .context | trunc (int (sub 62 (len .suffix)))) .suffix | trimSuffix "-" -}}
{{- end -}}

{{/* "<chart>-<version>" for the helm.sh/chart label. */}}
{{- define "tokenplane.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Labels. selectorLabels are the immutable subset that Deployments, StatefulSets,
DaemonSets, Services, PDBs and NetworkPolicies select on; labels add the rest.
Call with (dict "context" $ "component" "control-plane").
*/}}
{{- define "tokenplane.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tokenplane.name" .context }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{- define "tokenplane.labels" -}}
helm.sh/chart: {{ include "tokenplane.chart" .context }}
{{ include "tokenplane.selectorLabels" . }}
app.kubernetes.io/version: {{ .context.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
app.kubernetes.io/part-of: tokenplane
{{- with .context.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Component resource names. */}}
{{- define "tokenplane.controlPlane.fullname" -}}{{ include "tokenplane.fullname" . }}{{- end -}}
{{- define "tokenplane.etcd.fullname" -}}{{ include "tokenplane.componentName" (dict "context" . "suffix" "etcd") }}{{- end -}}
{{- define "tokenplane.etcd.headless" -}}{{ include "tokenplane.componentName" (dict "context" . "suffix" "etcd-headless") }}{{- end -}}
{{- define "tokenplane.agent.fullname" -}}{{ include "tokenplane.componentName" (dict "context" . "suffix" "agent") }}{{- end -}}

{{/* Secret names: given (existingSecret) or the chart's own. */}}
{{- define "tokenplane.tlsSecretName" -}}
{{- if eq .Values.tls.source "secret" -}}
{{- .Values.tls.existingSecret -}}
{{- else -}}
{{- include "tokenplane.componentName" (dict "context" . "suffix" "tls") -}}
{{- end -}}
{{- end -}}

{{- define "tokenplane.etcdTlsSecretName" -}}
{{- default (include "tokenplane.componentName" (dict "context" . "suffix" "etcd-tls")) .Values.etcd.bundled.tls.existingSecret -}}
{{- end -}}

{{- define "tokenplane.bootstrapTokenSecretName" -}}
{{- default (include "tokenplane.componentName" (dict "context" . "suffix" "bootstrap-token")) .Values.auth.bootstrapToken.existingSecret -}}
{{- end -}}

{{- define "tokenplane.signingKeySecretName" -}}
{{- default (include "tokenplane.componentName" (dict "context" . "suffix" "node-signing-key")) .Values.auth.nodeSigningKey.existingSecret -}}
{{- end -}}

{{- define "tokenplane.apiTokensSecretName" -}}
{{- default (include "tokenplane.componentName" (dict "context" . "suffix" "api-tokens")) .Values.auth.apiTokens.existingSecret -}}
{{- end -}}

{{/* ServiceAccount names. */}}
{{- define "tokenplane.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tokenplane.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "tokenplane.agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tokenplane.agent.fullname" .) .Values.serviceAccount.agentName -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.agentName -}}
{{- end -}}
{{- end -}}

{{/*
Images. (dict "image" .Values.image "context" $): registry/repository, then @digest
if given, else :tag (default: the chart's appVersion). global.imageRegistry wins.
*/}}
{{- define "tokenplane.imageRef" -}}
{{- $registry := default .image.registry .context.Values.global.imageRegistry -}}
{{- $repo := ternary (printf "%s/%s" $registry .image.repository) .image.repository (ne $registry "") -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $repo .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .context.Chart.AppVersion .image.tag | toString) -}}
{{- end -}}
{{- end -}}

{{- define "tokenplane.image" -}}{{ include "tokenplane.imageRef" (dict "image" .Values.image "context" .) }}{{- end -}}
{{- define "tokenplane.etcd.image" -}}{{ include "tokenplane.imageRef" (dict "image" .Values.etcd.bundled.image "context" .) }}{{- end -}}

{{- define "tokenplane.imagePullSecrets" -}}
{{- with .Values.global.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ if kindIs "map" . }}{{ .name }}{{ else }}{{ . }}{{ end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Pod anti-affinity preset: (dict "preset" "soft" "context" $ "component" "etcd"). */}}
{{- define "tokenplane.podAntiAffinity" -}}
{{- if eq .preset "hard" }}
podAntiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    - topologyKey: kubernetes.io/hostname
      labelSelector:
        matchLabels:
          {{- include "tokenplane.selectorLabels" (dict "context" .context "component" .component) | nindent 10 }}
{{- else if eq .preset "soft" }}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "tokenplane.selectorLabels" (dict "context" .context "component" .component) | nindent 12 }}
{{- end }}
{{- end -}}

{{/*
Store and API addresses.
*/}}

{{/* The etcd client endpoints as a list of host:port. */}}
{{- define "tokenplane.etcd.endpoints" -}}
{{- $endpoints := list -}}
{{- if .Values.etcd.bundled.enabled -}}
{{- $sts := include "tokenplane.etcd.fullname" . -}}
{{- $headless := include "tokenplane.etcd.headless" . -}}
{{- range $i := until (int .Values.etcd.bundled.replicas) -}}
{{- $endpoints = append $endpoints (printf "%s-%d.%s.%s.svc.%s:2379" $sts $i $headless $.Release.Namespace $.Values.global.clusterDomain) -}}
{{- end -}}
{{- else -}}
{{- $endpoints = .Values.etcd.external.endpoints -}}
{{- end -}}
{{- join "," $endpoints -}}
{{- end -}}

{{/* Whether this release runs its own etcd: the control plane on an etcd store, bundled. */}}
{{- define "tokenplane.etcd.bundled" -}}
{{- if and .Values.controlPlane.enabled (eq .Values.controlPlane.store.mode "etcd") .Values.etcd.bundled.enabled -}}true{{- end -}}
{{- end -}}

{{- define "tokenplane.etcd.tlsEnabled" -}}
{{- if .Values.etcd.bundled.enabled -}}
{{- ternary "true" "" .Values.etcd.bundled.tls.enabled -}}
{{- else -}}
{{- ternary "true" "" .Values.etcd.external.tls.enabled -}}
{{- end -}}
{{- end -}}

{{/* --store URL: sqlite:///... (embedded), etcd://h:p,h:p or etcds://h:p,h:p. */}}
{{- define "tokenplane.storeURL" -}}
{{- if eq .Values.controlPlane.store.mode "embedded" -}}
sqlite:///var/lib/tokenplane/tokenplane.db
{{- else -}}
{{- printf "%s://%s" (ternary "etcds" "etcd" (eq (include "tokenplane.etcd.tlsEnabled" .) "true")) (include "tokenplane.etcd.endpoints" .) -}}
{{- end -}}
{{- end -}}

{{/* Whether leader election is on: etcd store and leaderElection.enabled. */}}
{{- define "tokenplane.leaderElect" -}}
{{- if and (eq .Values.controlPlane.store.mode "etcd") .Values.controlPlane.leaderElection.enabled -}}true{{- end -}}
{{- end -}}

{{/* Whether the leader labels its pod (routing=podLabel with leader election). */}}
{{- define "tokenplane.leaderLabel" -}}
{{- if and (include "tokenplane.leaderElect" .) (eq .Values.controlPlane.leaderElection.routing "podLabel") -}}true{{- end -}}
{{- end -}}

{{/* host:port the agents, tpctl and the test hook dial. */}}
{{- define "tokenplane.serverAddress" -}}
{{- if .Values.agent.server -}}
{{- .Values.agent.server -}}
{{- else -}}
{{- printf "%s.%s.svc:%d" (include "tokenplane.controlPlane.fullname" .) .Release.Namespace (int .Values.controlPlane.service.port) -}}
{{- end -}}
{{- end -}}

{{/* A random token that survives upgrades: reuse the key of the live Secret if any. */}}
{{- define "tokenplane.stableRandom" -}}
{{- $secret := lookup "v1" "Secret" .context.Release.Namespace .name -}}
{{- if and $secret (hasKey ($secret.data | default dict) .key) -}}
{{- index $secret.data .key | b64dec -}}
{{- else -}}
{{- randAlphaNum 48 -}}
{{- end -}}
{{- end -}}

{{/*
validateValues gathers every problem in the values and fails once, naming the fix
for each. Included from NOTES.txt (rendered by both `helm install` and
`helm template`), so nothing is applied when the values are wrong.
*/}}
{{- define "tokenplane.validateValues" -}}
{{- $v := .Values -}}
{{- $cp := $v.controlPlane -}}
{{- $errors := list -}}
{{- if and (not $cp.enabled) (not $v.agent.enabled) -}}
{{- $errors = append $errors "nothing to install: controlPlane.enabled=false and agent.enabled=false. Set controlPlane.enabled=true, agent.enabled=true, or both." -}}
{{- end -}}
{{- if $cp.enabled -}}
{{- if and (eq $cp.store.mode "embedded") (gt (int $cp.replicas) 1) -}}
{{- $errors = append $errors (printf "controlPlane.store.mode=embedded keeps state in one SQLite file that only one replica can open, but controlPlane.replicas=%d. Set controlPlane.replicas=1, or use controlPlane.store.mode=etcd (with etcd.bundled.enabled=true or etcd.external.endpoints) for HA." (int $cp.replicas)) -}}
{{- end -}}
{{- if and (eq $cp.store.mode "etcd") (gt (int $cp.replicas) 1) (not $cp.leaderElection.enabled) -}}
{{- $errors = append $errors (printf "controlPlane.replicas=%d without leader election would let several replicas schedule at once. Set controlPlane.leaderElection.enabled=true, or controlPlane.replicas=1." (int $cp.replicas)) -}}
{{- end -}}
{{- if eq $cp.store.mode "etcd" -}}
{{- if and (not $v.etcd.bundled.enabled) (empty $v.etcd.external.endpoints) -}}
{{- $errors = append $errors "controlPlane.store.mode=etcd needs an etcd cluster. Set etcd.bundled.enabled=true, or list your cluster in etcd.external.endpoints (host:port)." -}}
{{- end -}}
{{- if and $v.etcd.bundled.enabled (not (empty $v.etcd.external.endpoints)) -}}
{{- $errors = append $errors "both etcd.bundled.enabled=true and etcd.external.endpoints are set. Use one: Set etcd.bundled.enabled=false to use the external cluster, or empty etcd.external.endpoints." -}}
{{- end -}}
{{- if and (not $v.etcd.bundled.enabled) $v.etcd.external.tls.enabled (not $v.etcd.external.tls.secretName) -}}
{{- $errors = append $errors "etcd.external.tls.enabled=true needs the CA (and client certificate) in a Secret. Set etcd.external.tls.secretName." -}}
{{- end -}}
{{- end -}}
{{- if and (eq $cp.ray.mode "external") (not $cp.ray.address) -}}
{{- $errors = append $errors "controlPlane.ray.mode=external needs the Ray cluster's address. Set controlPlane.ray.address (e.g. ray://raycluster-head-svc.ray.svc:10001), or controlPlane.ray.mode=local." -}}
{{- end -}}
{{- end -}}
{{- if include "tokenplane.etcd.bundled" . -}}
{{- if eq (mod (int $v.etcd.bundled.replicas) 2) 0 -}}
{{- $errors = append $errors (printf "etcd.bundled.replicas=%d: an even number of etcd members tolerates no more failures than one fewer. Set etcd.bundled.replicas=3 (or 5)." (int $v.etcd.bundled.replicas)) -}}
{{- else if and (gt (int $cp.replicas) 1) (lt (int $v.etcd.bundled.replicas) 3) -}}
{{- $errors = append $errors "controlPlane.replicas>1 asks for HA, but a 1-member etcd is lost with its pod. Set etcd.bundled.replicas=3." -}}
{{- end -}}
{{- end -}}
{{- if $v.tls.enabled -}}
{{- if and (eq $v.tls.source "secret") (not $v.tls.existingSecret) -}}
{{- $errors = append $errors "tls.source=secret needs tls.existingSecret: a Secret with tls.crt, tls.key and ca.crt. Set it, or use tls.source=generate or certManager." -}}
{{- end -}}
{{- if and (eq $v.tls.source "certManager") (not $v.tls.certManager.issuerRef.name) -}}
{{- $errors = append $errors "tls.source=certManager needs tls.certManager.issuerRef.name (an Issuer or ClusterIssuer). Set it, or use tls.source=generate." -}}
{{- end -}}
{{- if and (not $cp.enabled) $v.agent.enabled (ne $v.tls.source "secret") -}}
{{- $errors = append $errors "agents-only (controlPlane.enabled=false) cannot generate the remote control plane's CA. Set tls.source=secret and tls.existingSecret to a Secret whose ca.crt signed the control plane's certificate (or tls.enabled=false for a plaintext control plane)." -}}
{{- end -}}
{{- end -}}
{{- if $v.agent.enabled -}}
{{- $loc := $v.agent.node.spec.location -}}
{{- if and (eq (float64 $loc.lat) 0.0) (eq (float64 $loc.lon) 0.0) -}}
{{- $errors = append $errors "agent.node.spec.location is 0,0 (the default): the scheduler places replicas by distance to users. Set agent.node.spec.location.lat and .lon to the site's coordinates." -}}
{{- end -}}
{{- if empty (index $v.agent.runtime $v.agent.runtime.driver).templates -}}
{{- $errors = append $errors (printf "agent.runtime.driver=%s has no templates, so agents could run no model. Add one per model runtime under agent.runtime.%s.templates (see docs/agent.md)." $v.agent.runtime.driver $v.agent.runtime.driver) -}}
{{- end -}}
{{- if le (float64 $v.agent.node.spec.power.budgetKw) 0.0 -}}
{{- $errors = append $errors "agent.node.spec.power.budgetKw is 0: the scheduler never places a replica beyond a site's power budget. Set agent.node.spec.power.budgetKw to the site's budget in kW." -}}
{{- end -}}
{{- end -}}
{{- if and (not $cp.enabled) $v.agent.enabled -}}
{{- if not $v.agent.server -}}
{{- $errors = append $errors "agents-only (controlPlane.enabled=false) needs the control plane's address. Set agent.server (host:port)." -}}
{{- end -}}
{{- if not $v.auth.bootstrapToken.existingSecret -}}
{{- $errors = append $errors "agents-only (controlPlane.enabled=false) needs the control plane's bootstrap token; a generated one would not match. Set auth.bootstrapToken.existingSecret (a Secret with key \"token\")." -}}
{{- end -}}
{{- end -}}
{{- if $errors -}}
{{- fail (printf "\n\nINVALID VALUES:\n  - %s\n" (join "\n  - " $errors)) -}}
{{- end -}}
{{- end -}}

{{/* Egress to the cluster DNS, for NetworkPolicies that restrict egress. */}}
{{- define "tokenplane.networkPolicy.dnsEgress" -}}
- to:
    - namespaceSelector: {}
      podSelector:
        matchLabels:
          k8s-app: kube-dns
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end -}}

{{/*
The agents' config file (node.yaml): the Node manifest without metadata.name (each
agent takes its Kubernetes node's name), and the agent's energy and runtime sections.
*/}}
{{- define "tokenplane.agent.nodeManifest" -}}
{{- $driver := .Values.agent.runtime.driver -}}
{{- $runtime := merge (dict "driver" $driver) (deepCopy (index .Values.agent.runtime $driver)) -}}
{{- if eq $driver "kubernetes" -}}
{{- $_ := set $runtime "namespace" (include "tokenplane.agent.runtimeNamespace" .) -}}
{{- end -}}
apiVersion: tokenplane.io/v1
kind: Node
metadata:
  labels:
    {{- with .Values.agent.node.labels }}
    {{- toYaml . | nindent 4 }}
    {{- else }} {}
    {{- end }}
spec:
  {{- toYaml .Values.agent.node.spec | nindent 2 }}
agent:
  energy:
    {{- $energy := .Values.agent.energy }}
    {{- toYaml (merge (dict "source" $energy.source) (deepCopy (index $energy $energy.source))) | nindent 4 }}
  runtime:
    {{- toYaml $runtime | nindent 4 }}
{{- end -}}

{{- define "tokenplane.agent.runtimeNamespace" -}}
{{- default .Release.Namespace .Values.agent.runtime.kubernetes.namespace -}}
{{- end -}}

{{/* Whether the agents run replicas through the Kubernetes API (driver kubernetes). */}}
{{- define "tokenplane.agent.kubernetesDriver" -}}
{{- if and .Values.agent.enabled (eq .Values.agent.runtime.driver "kubernetes") -}}true{{- end -}}
{{- end -}}
