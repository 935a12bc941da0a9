#!/usr/bin/env bash
# What `make fresh-check` runs on the new machine (../shared/tools/fresh-machine.sh, in a clean
# clone): the newcomer's two steps, timed.
#   1. `make deps build` (as make apt-deps, make venv, make build: each one timed)
#   2. `make run` (sdp up) on free ports with its state in a new directory under /tmp, waited for
#      until it prints "The SDP is up" (fails with the log if it exits first or after
#      UP_TIMEOUT s), then stopped as Ctrl-C stops it (SIGINT to `sdp up`): it must exit 0
#      within STOP_TIMEOUT s and leave no process of its own behind. Its state and log are
#      removed when all went well.
# It runs on any machine too, but `make deps` installs missing apt packages there.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
UP_TIMEOUT=${UP_TIMEOUT:-600}
STOP_TIMEOUT=${STOP_TIMEOUT:-60}

say() { echo "fresh-check: $*"; }

# `make deps build`, one part at a time to time each (deps = apt-deps venv)
t0=$SECONDS times=""
for part in apt-deps venv build; do
  t=$SECONDS
  make "$part" || { say "FAILED: make $part (of make deps build)"; exit 1; }
  times="$times, $part $((SECONDS - t)) s"
done
t_build=$((SECONDS - t0))
say "make deps build took ${t_build} s (${times#, })"

# two free ports on 127.0.0.1 (both sockets held while choosing, so they differ)
read -r tango_port etcd_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')
[ -n "${etcd_port:-}" ] || { say "FAILED: cannot pick free ports"; exit 1; }
state=$(mktemp -d /tmp/sdp-fresh-check.XXXXXX)
log=$state.log

# job control: `make run` gets its own process group with SIGINT not ignored, as from a terminal
set -m
t1=$SECONDS
make run TANGO_PORT="$tango_port" ETCD_PORT="$etcd_port" STATE_DIR="$state" >"$log" 2>&1 &
mk=$!
# Whatever happens below, nothing of the run outlives this script: if make run is still there
# at exit (a failure), SIGINT to sdp up as in a normal stop, then SIGKILL to every process of
# the tree as it was (sdp up's children have their own process group: killing make's misses them).
tree() { local p; for p in $(pgrep -P "$1"); do echo "$p"; tree "$p"; done; }
stop_all() {
  kill -0 "$mk" 2>/dev/null || return 0
  local pids s i
  pids="$mk $(tree "$mk")"
  s=$(pgrep -P "$mk" -x sdp) && kill -INT "$s"
  for i in $(seq 30); do kill -0 "$mk" 2>/dev/null || break; sleep 1; done
  kill -KILL $pids 2>/dev/null
}
trap stop_all EXIT
say "make run (Tango DB 127.0.0.1:$tango_port, etcd 127.0.0.1:$etcd_port, state $state, log $log)"

until grep -q "The SDP is up" "$log"; do
  if ! kill -0 "$mk" 2>/dev/null; then
    wait "$mk"
    say "FAILED: make run exited with status $? before the SDP was up; its output:"
    cat "$log"
    exit 1
  fi
  if [ $((SECONDS - t1)) -ge "$UP_TIMEOUT" ]; then
    say "FAILED: the SDP was not up after ${UP_TIMEOUT} s; the output of make run so far:"
    cat "$log"
    exit 1
  fi
  sleep 1
done
t_up=$((SECONDS - t1))
sleep 1   # the lines printed with "The SDP is up"
cat "$log"
shown=$(wc -l <"$log")
say "make run: the SDP was up after ${t_up} s"

# `make run` execs `sdp up`: make's child. SIGINT to it alone, as Ctrl-C in a terminal reaches
# it (make, left alone, then exits with its status).
sdp=$(pgrep -P "$mk" -x sdp)
[ -n "$sdp" ] || { say "FAILED: no sdp process under make run ($mk)"; ps -ef; exit 1; }
kill -INT "$sdp"
t2=$SECONDS
while kill -0 "$mk" 2>/dev/null; do
  if [ $((SECONDS - t2)) -ge "$STOP_TIMEOUT" ]; then
    say "FAILED: sdp up still running ${STOP_TIMEOUT} s after SIGINT; its output:"
    cat "$log"
    exit 1
  fi
  sleep 1
done
wait "$mk"
rc=$?
tail -n +$((shown + 1)) "$log"
if [ "$rc" != 0 ]; then
  say "FAILED: make run exited with status $rc after SIGINT (want 0)"
  exit 1
fi
left=$(pgrep -a -f -- "$state")
if [ -n "$left" ]; then
  say "FAILED: processes of the run still alive after sdp up exited:"
  echo "$left"
  exit 1
fi
rm -rf "$state" "$log"
say "OK: make deps build ${t_build} s (${times#, }); make run to \"The SDP is up\" ${t_up} s; stopped by SIGINT in $((SECONDS - t2)) s, status 0"
