{{/*
etcd TLS and authentication of the workflow (global.etcd, passed on by the Helm deployer from
its SDP_HELM_VALUES): the same variables and files as the sdp-prototype chart's
"sdp.configSecurityEnv" gives its own pods. Keep the two in step.
*/}}
{{- define "workflow.configTlsDir" -}}/var/run/secrets/sdp-config/tls{{- end -}}

{{- define "workflow.configSecurityEnv" -}}
{{- $e := .Values.global.etcd -}}
{{- if $e.tls.enabled -}}
{{- if not $e.tls.secret }}{{ fail "workflow chart: global.etcd.tls.secret (a Secret with ca.crt) is required when global.etcd.tls.enabled" }}{{ end }}
- name: SDP_CONFIG_PROTOCOL
  value: https
- name: SDP_CONFIG_CERT
  value: {{ include "workflow.configTlsDir" . }}/ca.crt
{{- if $e.tls.clientAuth }}
- name: SDP_CONFIG_CLIENT_CERT
  value: {{ include "workflow.configTlsDir" . }}/tls.crt
- name: SDP_CONFIG_CLIENT_KEY
  value: {{ include "workflow.configTlsDir" . }}/tls.key
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
