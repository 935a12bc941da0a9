{{/*
Named templates shared by the umbrella chart and its subcharts (named templates are global in
Helm, so the subcharts under charts/ use these). They depend on .Release and .Values.global
only, never on .Chart, so every subchart computes the same names.
*/}}

{{/* "<release>-sdp-prototype", or the release name when it already contains "sdp-prototype". */}}
{{- define "sdp.fullname" -}}
{{- if .Values.global.fullnameOverride -}}
{{- .Values.global.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else if contains "sdp-prototype" .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-sdp-prototype" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels every object carries; call with (dict "ctx" $ "component" "etcd"). */}}
{{- define "sdp.labels" -}}
{{ include "sdp.selectorLabels" . }}
app.kubernetes.io/part-of: sdp-prototype
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "sdp.selectorLabels" -}}
app.kubernetes.io/name: sdp-prototype
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The project image (Dockerfile target "runtime"). */}}
{{- define "sdp.image" -}}
{{- $i := .Values.global.image -}}
{{- if $i.registry -}}{{ printf "%s/%s:%s" $i.registry $i.repository $i.tag }}{{- else -}}{{ printf "%s:%s" $i.repository $i.tag }}{{- end -}}
{{- end -}}

{{/* Namespace of the deployments made by the Helm deployer. */}}
{{- define "sdp.helmNamespace" -}}
{{- .Values.global.helmNamespace | default (printf "%s-sdp" .Release.Namespace) -}}
{{- end -}}

{{/* Host of the etcd client service, fully qualified: workflows run in the Helm namespace. */}}
{{- define "sdp.configHost" -}}
{{- printf "%s-etcd-client.%s.svc.cluster.local" (include "sdp.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/* TANGO_HOST: tango-base's databaseds unless global.tangoHost says otherwise. */}}
{{- define "sdp.tangoHost" -}}
{{- .Values.global.tangoHost | default (printf "databaseds-tango-base-%s:10000" .Release.Name) -}}
{{- end -}}

{{/* Environment of every configuration-DB client. */}}
{{- define "sdp.configEnv" -}}
- name: SDP_CONFIG_HOST
  value: {{ include "sdp.configHost" . | quote }}
- name: SDP_CONFIG_PORT
  value: "2379"
{{- end -}}

{{/* Init container: wait until the configuration DB answers (sdpcfg from the project image). */}}
{{- define "sdp.waitForConfigDb" -}}
- name: wait-for-config-db
  image: {{ include "sdp.image" . }}
  imagePullPolicy: {{ .Values.global.image.pullPolicy }}
  command:
    - /bin/sh
    - -c
    - until timeout 5 sdpcfg ls / >/dev/null 2>&1; do echo "waiting for etcd at $SDP_CONFIG_HOST:$SDP_CONFIG_PORT"; sleep 2; done
  env:
    {{- include "sdp.configEnv" . | nindent 4 }}
  securityContext:
    {{- include "sdp.containerSecurityContext" . | nindent 4 }}
{{- end -}}

{{/* Pod and container security contexts of the project's own containers (non-root image). */}}
{{- define "sdp.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "sdp.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* "imagePullSecrets: [...]" when global.imagePullSecrets is set, else nothing. */}}
{{- define "sdp.imagePullSecrets" -}}
{{- with .Values.global.imagePullSecrets -}}
imagePullSecrets: {{ toJson . }}
{{- end -}}
{{- end -}}
