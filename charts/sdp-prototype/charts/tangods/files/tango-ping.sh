#!/bin/bash
# tango-ping DEVICE [HOST [PORT]]: the Tango ping of one device, as DeviceProxy.ping() does it:
# a GIOP 1.2 Request for the operation "ping" on the device's object, answered without an
# exception. Exit 0 when the device answers, 1 otherwise. Used by the probes of the device
# server pods (bash and coreutils only, so it runs in the project image).
# HOST defaults to $POD_IP (the servers listen on the pod address), PORT to $TANGO_PING_PORT.
set -u
dev=$(printf '%s' "${1:?usage: tango-ping DEVICE [HOST [PORT]]}" | tr 'A-Z' 'a-z')
host=${2:-${POD_IP:-127.0.0.1}}
port=${3:-${TANGO_PING_PORT:-45450}}

be32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
bytes() { local s=$1 out= i; for ((i = 0; i < ${#s}; i++)); do out+=$(printf '\\x%02x' "'${s:i:1}"); done; printf '%s' "$out"; }
pad4() { local n=$(( (4 - $1 % 4) % 4 )) out=; while ((n-- > 0)); do out+='\x00'; done; printf '%s' "$out"; }

# Body after the 12-byte header (CDR alignment counts from the start of the message).
klen=${#dev}
body="$(be32 1)\\x03\\x00\\x00\\x00"                     # request id 1; SYNC_WITH_TARGET; reserved
body+="\\x00\\x00\\x00\\x00$(be32 "$klen")$(bytes "$dev")"    # TargetAddress KeyAddr + object key
off=$((12 + 4 + 4 + 4 + 4 + klen))
body+="$(pad4 $off)$(be32 5)ping\\x00"                     # operation "ping"
off=$((off + (4 - off % 4) % 4 + 4 + 5))
body+="$(pad4 $off)\\x00\\x00\\x00\\x00"                   # no service contexts
size=$(( $(printf "$body" | wc -c) ))
msg="GIOP\\x01\\x02\\x00\\x00$(be32 $size)$body"

exec 3<>"/dev/tcp/$host/$port" || exit 1
printf "$msg" >&3
# Reply header: GIOP, version, flags, type 1 (Reply), size; request id; reply status 0 = NO_EXCEPTION.
reply=$(timeout "${TANGO_PING_TIMEOUT:-3}" head -c 20 <&3 | od -An -v -tx1 | tr -d ' \n')
exec 3<&-
case "$reply" in
  47494f5001??[0-9a-f][0-9a-f]01????????????????00000000) exit 0 ;;
  *) echo "tango-ping: $dev at $host:$port did not answer the ping (reply ${reply:-none})" >&2; exit 1 ;;
esac
