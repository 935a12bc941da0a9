{{/* The device servers as a list of dicts: name (server), class (the executable), deviceClass
     (the registered class), instance, devices, component, properties (of every device). The
     interface profile (interfaceProfile: 2019 or adr8) chooses the class and device names. */}}
{{- define "tangods.servers" -}}
{{- $adr8 := eq (toString .Values.interfaceProfile) "adr8" -}}
{{- $props := ternary (dict "InterfaceProfile" (list "adr8")) (dict) $adr8 -}}
{{- $servers := list (dict "class" "SDPMaster" "deviceClass" (ternary "SDPController" "SDPMaster" $adr8) "instance" "1" "component" "sdp-master" "properties" $props "devices" (list (ternary "mid-sdp/control/0" "mid_sdp/elt/master" $adr8))) -}}
{{- range $n := untilStep 1 (add1 (int .Values.subarrays) | int) 1 -}}
{{- $dev := ternary (printf "mid-sdp/subarray/%02d" $n) (printf "mid_sdp/elt/subarray_%d" $n) $adr8 -}}
{{- $servers = append $servers (dict "class" "SDPSubarray" "deviceClass" "SDPSubarray" "instance" (toString $n) "component" (printf "sdp-subarray-%d" $n) "properties" $props "devices" (list $dev)) -}}
{{- end -}}
{{- toJson $servers -}}
{{- end -}}

{{/* dsconfig JSON registering one server: (dict "server" $s). */}}
{{- define "tangods.dsconfig" -}}
{{- $devs := dict -}}
{{- $props := .server.properties | default dict -}}
{{- range .server.devices }}{{ $_ := set $devs . (dict "properties" $props) }}{{ end -}}
{{- $doc := dict "servers" (dict .server.class (dict .server.instance (dict .server.deviceClass $devs))) -}}
{{- toPrettyJson $doc -}}
{{- end -}}
