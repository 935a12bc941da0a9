#!/usr/bin/env bash
# Throwaway single-node etcd on 127.0.0.1 for manual work with sdpcfg and etcdctl.
# (The Rust tests start their own etcd through sdp_config::EtcdServer; this is for people.)
#
#   eval "$(tests/etcd/throwaway.sh up)"     # starts etcd, exports SDP_CONFIG_HOST/PORT, ETCD_ENDPOINT, ETCD_THROWAWAY
#   sdpcfg ls -R /
#   ETCDCTL_API=3 etcdctl --endpoints "$ETCD_ENDPOINT" get "" --prefix --keys-only
#   tests/etcd/throwaway.sh down "$ETCD_THROWAWAY"   # stops it, removes its data
#
# Needs Debian etcd-server (etcd) and etcd-client (etcdctl). Set ETCD_BIN to use another etcd.
set -euo pipefail

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

up() {
  local bin="${ETCD_BIN:-etcd}" dir cport pport pid
  command -v "$bin" >/dev/null || { echo "no $bin on PATH: apt-get install -y etcd-server etcd-client" >&2; exit 1; }
  dir="$(mktemp -d "${TMPDIR:-/tmp}/sdp-etcd.XXXXXX")"
  cport="$(port)"; pport="$(port)"
  # etcd takes every ETCD_* variable as a flag: start it with none of ours.
  env $(env | sed -n 's/^\(ETCD[A-Za-z0-9_]*\)=.*/-u \1/p') "$bin" \
    --name throwaway --data-dir "$dir/data" \
    --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "throwaway=http://127.0.0.1:$pport" --initial-cluster-state new \
    --heartbeat-interval=10 --election-timeout=100 --log-level error --logger zap \
    >"$dir/etcd.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/pid"
  for _ in $(seq 100); do
    if ! kill -0 "$pid" 2>/dev/null; then echo "etcd died:" >&2; cat "$dir/etcd.log" >&2; rm -rf "$dir"; exit 1; fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$cport") 2>/dev/null; then
      echo "export SDP_CONFIG_HOST=127.0.0.1 SDP_CONFIG_PORT=$cport ETCD_ENDPOINT=127.0.0.1:$cport ETCD_THROWAWAY=$dir"
      return 0
    fi
    sleep 0.1
  done
  echo "etcd did not open port $cport in 10 s" >&2; kill "$pid"; rm -rf "$dir"; exit 1
}

down() {
  local dir="${1:?usage: $0 down DIR}" pid
  [[ -f "$dir/pid" ]] || { echo "$dir is not a throwaway etcd dir" >&2; exit 1; }
  pid="$(cat "$dir/pid")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -rf "$dir"
}

case "${1:-}" in
  up) up ;;
  down) down "${2:-}" ;;
  *) echo "usage: $0 up | down DIR" >&2; exit 2 ;;
esac
