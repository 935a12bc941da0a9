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

{{/* Environment of every configuration-DB client: where etcd is, and how to reach it securely. */}}
{{- define "sdp.configEnv" -}}
- name: SDP_CONFIG_HOST
  value: {{ include "sdp.configHost" . | quote }}
- name: SDP_CONFIG_PORT
  value: "2379"
{{- include "sdp.configSecurityEnv" . }}
{{- end -}}

{{/*
TLS and authentication of a configuration-DB client (global.etcd). Certificates are files of
the read-only volume "sdp.configVolumes" makes; the user and password come from their Secret
through secretKeyRef, so they are in no value, ConfigMap or command line. charts/workflow
renders the same for workflows (it is a chart of its own: keep the two in step).
*/}}
{{- define "sdp.configSecurityEnv" -}}
{{- $e := .Values.global.etcd -}}
{{- if $e.tls.enabled -}}
{{- if not $e.tls.secret }}{{ fail "global.etcd.tls.secret (a Secret with ca.crt) is required when global.etcd.tls.enabled" }}{{ end }}
- name: SDP_CONFIG_PROTOCOL
  value: https
- name: SDP_CONFIG_CERT
  value: {{ include "sdp.configTlsDir" . }}/ca.crt
{{- if $e.tls.clientAuth }}
- name: SDP_CONFIG_CLIENT_CERT
  value: {{ include "sdp.configTlsDir" . }}/tls.crt
- name: SDP_CONFIG_CLIENT_KEY
  value: {{ include "sdp.configTlsDir" . }}/tls.key
{{- end }}
{{- end }}
{{- with $e.auth.secret }}
- name: SDP_CONFIG_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ . | quote }}
      key: username
- name: SDP_CONFIG_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . | quote }}
      key: password
{{- end }}
{{- end -}}

{{/* Where configuration-DB clients find the CA (and client) certificates: not under /etc/sdp, which holds ConfigMaps. */}}
{{- define "sdp.configTlsDir" -}}/var/run/secrets/sdp-config/tls{{- end -}}

{{/* volumeMounts entry of a configuration-DB client (nothing without TLS). */}}
{{- define "sdp.configVolumeMounts" -}}
{{- if .Values.global.etcd.tls.enabled -}}
- name: sdp-config-tls
  mountPath: {{ include "sdp.configTlsDir" . }}
  readOnly: true
{{- end -}}
{{- end -}}

{{/* volumes entry for "sdp.configVolumeMounts": only the keys a client needs, readable by the pod's fsGroup. */}}
{{- define "sdp.configVolumes" -}}
{{- $tls := .Values.global.etcd.tls -}}
{{- if $tls.enabled -}}
- name: sdp-config-tls
  secret:
    secretName: {{ $tls.secret | quote }}
    defaultMode: 0440
    items:
      - key: ca.crt
        path: ca.crt
      {{- if $tls.clientAuth }}
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
      {{- end }}
{{- end -}}
{{- end -}}

{{/*
SDP_HELM_VALUES of the Helm deployer: the global.etcd settings every chart it installs gets
(charts/workflow turns them into the environment above). Secret names only, never their data.
Nothing when etcd is neither TLS nor authenticated, so the default installs stay as in 2019.
*/}}
{{- define "sdp.helmValues" -}}
{{- $e := .Values.global.etcd -}}
{{- $v := dict -}}
{{- if $e.tls.enabled -}}
{{- $_ := set $v "global.etcd.tls.enabled" true -}}
{{- $_ := set $v "global.etcd.tls.secret" $e.tls.secret -}}
{{- if $e.tls.clientAuth }}{{ $_ := set $v "global.etcd.tls.clientAuth" true }}{{ end -}}
{{- end -}}
{{- with $e.auth.secret }}{{ $_ := set $v "global.etcd.auth.secret" . }}{{ end -}}
{{- if $v }}{{ toJson $v }}{{ end -}}
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
  {{- with include "sdp.configVolumeMounts" . }}
  volumeMounts:
    {{- . | nindent 4 }}
  {{- end }}
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
