{{/* The device servers as a list of dicts: name (server), class, instance, devices, component. */}}
{{- define "tangods.servers" -}}
{{- $servers := list (dict "class" "SDPMaster" "instance" "1" "component" "sdp-master" "devices" (list "mid_sdp/elt/master")) -}}
{{- range $n := untilStep 1 (add1 (int .Values.subarrays) | int) 1 -}}
{{- $servers = append $servers (dict "class" "SDPSubarray" "instance" (toString $n) "component" (printf "sdp-subarray-%d" $n) "devices" (list (printf "mid_sdp/elt/subarray_%d" $n))) -}}
{{- end -}}
{{- toJson $servers -}}
{{- end -}}

{{/* dsconfig JSON registering one server: (dict "server" $s). */}}
{{- define "tangods.dsconfig" -}}
{{- $devs := dict -}}
{{- range .server.devices }}{{ $_ := set $devs . (dict "properties" (dict)) }}{{ end -}}
{{- $doc := dict "servers" (dict .server.class (dict .server.instance (dict .server.class $devs))) -}}
{{- toPrettyJson $doc -}}
{{- end -}}
