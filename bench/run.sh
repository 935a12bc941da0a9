#!/usr/bin/env bash
# Benchmark our Tango server against cppTango's TangoTest and a PyTango high-level server,
# same client, same machine, same run, for each CPU placement. Writes JSON lines to
# bench/results.jsonl (one per measurement), then bench/report.py makes results.md + .png.
#
# Env: PY (python with pytango; default .venv/bin/python), DURATION (s per scenario, default 3),
#      PROCS (default 1,4,8), SERVERS (default "rust cpp py"),
#      PLACEMENTS (default "same split": server and client on cpu0 / server cpu0, client cpu1),
#      REPEAT (default 1): repetitions of every server's measurements, the servers taking turns
#      within each; the report gives medians (single runs with 4-8 clients scatter by 5-25 %).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
OUT="${OUT:-bench/results.jsonl}"
DURATION="${DURATION:-3}"
PROCS="${PROCS:-1,4,8}"
SERVERS="${SERVERS:-rust cpp py}"
PLACEMENTS="${PLACEMENTS:-same split}"
REPEAT="${REPEAT:-1}"
TANGOTEST="${TANGOTEST:-/usr/lib/tango/TangoTest}"
: > "$OUT"
pidfile="$(mktemp)"
trap 'p=$(cat "$pidfile" 2>/dev/null); [ -n "$p" ] && kill "$p" 2>/dev/null; rm -f "$pidfile"' EXIT
freeport() { "$PY" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
stop() { local p; p=$(cat "$pidfile"); kill "$p" 2>/dev/null || true; for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; : >"$pidfile"; }
ncpu=$(nproc)
# label every JSON line of a measurement with its placement and repetition
tag() { "$PY" -c "import json,sys; [print(json.dumps({**json.loads(l), 'placement': '$placement', 'rep': $rep})) for l in sys.stdin]"; }

for placement in $PLACEMENTS; do
  scpu=0; ccpu=0
  if [ "$placement" = split ]; then ccpu=$(( ncpu > 1 ? 1 : 0 )); fi
  spin=(taskset -c "$scpu"); cpin=(taskset -c "$ccpu")
  for rep in $(seq "$REPEAT"); do
    for s in $SERVERS; do
      port=$(freeport)
      case "$s" in
        rust) url="tango://127.0.0.1:$port/test/bench/1#dbase=no"; label=rust
              cmd=(target/release/BenchDevice bench -nodb -dlist test/bench/1 -ORBendPoint "giop:tcp:127.0.0.1:$port")
              scen="read_long,read_double,write_double,cmd_string,cmd_sink,events" ;;
        cpp)  url="tango://127.0.0.1:$port/sys/tg_test/1#dbase=no"; label=cpptango-tangotest
              cmd=("$TANGOTEST" test -nodb -dlist sys/tg_test/1 -ORBendPoint "giop:tcp:127.0.0.1:$port")
              scen="read_long,read_double,write_double,cmd_string" ;;
        py)   url="tango://127.0.0.1:$port/test/bench/1#dbase=no"; label=pytango
              cmd=("$PY" bench/bench_server.py bench -nodb -dlist test/bench/1 -ORBendPoint "giop:tcp:127.0.0.1:$port")
              scen="read_long,read_double,write_double,cmd_string,cmd_sink,events" ;;
        *) echo "unknown server $s" >&2; exit 2 ;;
      esac
      echo "== $label ($placement: server cpu$scpu, client cpu$ccpu; repetition $rep/$REPEAT)" >&2
      "$PY" bench/measure_startup.py --label "$label" --url "$url" --keep "$pidfile" -- "${spin[@]}" "${cmd[@]}" \
        | tag >> "$OUT"
      "${cpin[@]}" "$PY" bench/bench_client.py --url "$url" --label "$label" --server-pid "$(cat "$pidfile")" \
        --duration "$DURATION" --warmup 1 --procs "$PROCS" --scenarios "$scen" \
        | tag >> "$OUT"
      if [ "$s" = rust ]; then
        dev=test/bench/1
        "${cpin[@]}" target/release/tango-loadgen "127.0.0.1:$port" "$dev" double_scalar --connections 32 --pipeline 16 --seconds "$DURATION" \
          | tag >> "$OUT"
      fi
      stop
    done
  done
done
# config path on a one-machine system (sdp up): Configure -> PB, PB -> workflow deployment
cargo build --release --workspace --bins -q
"$PY" bench/config_path.py 20 >> "$OUT"
# the processing controller as the database grows (issue #20): CPU per PB, PB -> deployment
"$PY" bench/controller_scale.py --levels "${CONTROLLER_LEVELS:-100,1000,10000}" >> "$OUT"
# the config path with 16 subarrays commanded at once, and watch latency, one etcd vs three members
"$PY" bench/cluster_path.py --members "${CLUSTER_MEMBERS:-1,3}" >> "$OUT"
# the Tango database (issue #18): embedded vs the C++ DataBaseds on MariaDB vs PyTango's sqlite
"$PY" bench/database.py --duration "$DURATION" --devices "${DB_LOAD_DEVICES:-5000}" >> "$OUT"
# TMC's observing sequence against the ADR-8 profile, 1 and 16 subarrays at once (issue #19)
"$PY" bench/tmc_sequence.py --sizes 1,16 >> "$OUT"
"$PY" bench/report.py "$OUT" bench/results.md bench/results.png
echo "wrote bench/results.md, bench/results.png and bench/results-scale.png" >&2
