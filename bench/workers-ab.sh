#!/usr/bin/env bash
# workers-ab.sh: facteur against itself, one process (workers = 1) and WORKERS workers, in alternation, through
# the shared scripts' clients (../shared/bench/inbound-bench.sh and outbound-bench.sh: Postfix's smtp-source, a
# connection per message; the relay delivers to an smtp-sink found through a dnsmasq MX). Each server gets a
# warm-up run first (every process compiles and optimizes the code anew), then the measured run; the CPU is the
# server's process tree (/proc/<pid>/stat, primary and workers) over the measured run only.
# Run as root from the checkout, after `npm run build`:
#   bench/workers-ab.sh [inbound|outbound] [REPS]      (N, S, WORKERS, BENCH from the environment)
set -u
what=${1:-inbound} reps=${2:-2}
bench=${BENCH:-$(cd "$(dirname "$0")/../../shared/bench" 2>/dev/null && pwd)}
[ -x "$bench/inbound-bench.sh" ] || { echo "workers-ab: set BENCH to the folder of inbound-bench.sh" >&2; exit 2; }
tree=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$tree/dist/src/cli/main.js" ] || { echo "workers-ab: run npm run build first" >&2; exit 2; }
W=${WORKERS:-2}
if [ "$what" = inbound ]; then N=${N:-2000} S=${S:-32}; else N=${N:-3000} S=${S:-8}; fi

one() { # one server: warm-up, measured run, CPU over the measured run
  local w=$1 tmp port dport dpid= fpid
  tmp=$(mktemp -d /tmp/facteur-ab.XXXXXX); chmod 755 "$tmp"
  port=$(( 21000 + RANDOM % 5000 )); dport=$(( 26000 + RANDOM % 3000 ))
  {
    echo "hostname = \"mx.bench.test\""; echo 'data_dir = "data"'; echo "workers = $w"; echo '[log]'; echo 'level = "warn"'
    if [ "$what" = inbound ]; then
      printf '[inbound]\nlisten = ["127.0.0.1:%s"]\nlisten_tls = []\ndomains = ["bench.test"]\nmax_connections = 2000\n[inbound.users]\nu = ["u@bench.test"]\n[outbound]\nenabled = false\n' "$port"
    else
      /usr/sbin/dnsmasq --keep-in-foreground --conf-file=/dev/null --port="$dport" --listen-address=127.0.0.1 --bind-interfaces \
        --no-resolv --no-hosts --local=/test/ --mx-host=sink.test,mx.sink.test,10 --host-record=mx.sink.test,127.0.0.2 >/dev/null 2>&1 & dpid=$!
      printf '[inbound]\nenabled = false\n[outbound]\nlisten = ["127.0.0.1:%s"]\ndns_servers = ["127.0.0.1:%s"]\nsmtp_port = 10026\n' "$port" "$dport"
    fi
  } > "$tmp/bench.toml"
  (cd "$tmp" && exec setsid node "$tree/dist/src/cli/main.js" start -c bench.toml >facteur.log 2>&1) & fpid=$!
  for _ in $(seq 1 60); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.5; done
  mkdir -p "$tmp/data/mail/u/new"
  run() {
    if [ "$what" = inbound ]; then CLEAN=1 "$bench/inbound-bench.sh" 127.0.0.1 "$port" "$tmp/data/mail/u/new" "$N" "$S" 4096 2>&1 | tail -1
    else "$bench/outbound-bench.sh" 127.0.0.1 "$port" "$N" "$S" 4096 2>&1 | tail -1; fi
  }
  ticks() { local t=0; for p in $fpid $(pgrep -P "$fpid"); do t=$(( t + $(awk '{print $14 + $15}' "/proc/$p/stat") )); done; echo "$t"; }
  run >/dev/null
  local t0 line t1
  t0=$(ticks); line=$(run); t1=$(ticks)
  echo "workers=$w $(sed -n 's/.* msgs_per_s=\([0-9.]*\).*/msgs_per_s=\1/p' <<<"$line") cpu_ms_per_msg=$(awk -v t=$((t1 - t0)) -v n="$N" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.2f", t * 1000 / hz / n}') load=$(cut -d' ' -f1 /proc/loadavg)"
  kill -TERM -- -"$fpid" 2>/dev/null; wait "$fpid" 2>/dev/null
  [ -n "$dpid" ] && kill "$dpid" 2>/dev/null
  rm -rf "$tmp"
}
for _ in $(seq 1 "$reps"); do one 1; one "$W"; done
