#!/bin/bash
# compare-postfix.sh: facteur and Postfix side by side on this machine, in one run, through the same client.
#
#   sudo bench/compare-postfix.sh          (root: it installs, configures and starts Postfix, then stops it)
#
# 1. Installs/configures Postfix with /work/shared/bench/setup-postfix.sh (127.0.0.1:10025, bench.test → Maildir)
#    and starts it; starts facteur (the compiled CLI) with a bench config: domain bench.test, user u → Maildir.
#    Each server runs in a cpuacct cgroup of its own when the machine allows it, so its CPU time is exact
#    (Postfix's many processes included); otherwise inbound-bench.sh estimates it from /proc/stat.
# 2. For each inbound cell (4 KiB / 100 KiB × 1, 8, 32, 128 sessions × a connection per message, or `-d`: many per
#    connection) runs inbound-bench.sh (Postfix's smtp-source, then wait for the files in new/) against both
#    servers, alternating which goes first, and prints msgs/s and server CPU ms/msg with the ratio facteur/Postfix.
# 3. Runs the same comparison with facteur's own load generator (bench/run.js --compare-postfix): inbound cells,
#    and the outbound relay (both relaying to the same sink on 127.0.0.2).
# Tables and raw lines are saved under bench/results/. Postfix is stopped at the end, facteur too.
#
# Environment:
#   N4K=2000 N100K=500          messages per cell       SESSIONS="1 8 32 128"   SIZES="4096 102400"
#   MODES="one many"            TS=1 (0: skip step 3)   SHARED=/work/shared/bench
#   DIST=<compiled tree>        use this build (e.g. .build/me) instead of running `npm run build` into dist/
#   FACTEUR_PORT=10027          where facteur listens
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
SHARED=${SHARED:-/work/shared/bench}
N4K=${N4K:-2000}
N100K=${N100K:-500}
SESSIONS=${SESSIONS:-"1 8 32 128"}
SIZES=${SIZES:-"4096 102400"}
MODES=${MODES:-"one many"}
TS=${TS:-1}
FACTEUR_PORT=${FACTEUR_PORT:-10027}
POSTFIX_NEW=/var/mail/vhosts/bench.test/u/new

[ "$(id -u)" = 0 ] || { echo "compare-postfix: run as root (Postfix is installed and started)" >&2; exit 2; }
for f in setup-postfix.sh inbound-bench.sh; do
  [ -r "$SHARED/$f" ] || { echo "compare-postfix: $SHARED/$f is missing (set SHARED=)" >&2; exit 2; }
done

if [ -z "${DIST:-}" ]; then (cd "$REPO" && npm run build >/dev/null); DIST=$REPO/dist; fi
case "$DIST" in /*) ;; *) DIST=$REPO/$DIST ;; esac
CLI=$DIST/src/cli/main.js
[ -f "$CLI" ] || { echo "compare-postfix: $CLI missing (build first)" >&2; exit 2; }

STAMP=$(date -u +%Y-%m-%dT%H-%M-%SZ)
RESULTS=$REPO/bench/results
mkdir -p "$RESULTS"
WORK=$(mktemp -d /tmp/facteur-compare-XXXXXX)
CG_ROOT=/sys/fs/cgroup/cpuacct
CG_P="" CG_F="" FACTEUR_PID=""

cleanup() {
  set +e
  if [ -n "$FACTEUR_PID" ] && kill -0 "$FACTEUR_PID" 2>/dev/null; then
    kill -TERM "$FACTEUR_PID"
    for _ in $(seq 100); do kill -0 "$FACTEUR_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$FACTEUR_PID" 2>/dev/null
  fi
  postfix stop >/dev/null 2>&1
  for cg in "$CG_P" "$CG_F"; do
    [ -n "$cg" ] || continue
    for _ in $(seq 50); do rmdir "$cg" 2>/dev/null && break; sleep 0.1; done
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# A cpuacct cgroup (cgroup v1, as on these machines), or "" when we cannot make one.
make_cgroup() {
  local dir=$CG_ROOT/$1
  if [ -w "$CG_ROOT" ] && { [ -d "$dir" ] || mkdir "$dir" 2>/dev/null; } && [ -r "$dir/cpuacct.usage" ]; then echo "$dir"; else echo ""; fi
}
# Runs a command with its process moved into a cgroup first (its children inherit it).
in_cgroup() {
  local cg=$1; shift
  if [ -n "$cg" ]; then sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" "$@"; else "$@"; fi
}

echo "== Postfix: install/configure (setup-postfix.sh) and start" >&2
bash "$SHARED/setup-postfix.sh" >&2
CG_P=$(make_cgroup facteur-bench-postfix)
in_cgroup "$CG_P" postfix start >&2
find "$POSTFIX_NEW" -mindepth 1 -maxdepth 1 -type f -delete

echo "== facteur: start on 127.0.0.1:$FACTEUR_PORT" >&2
mkdir -p "$WORK/facteur"
cat > "$WORK/facteur/facteur.toml" <<EOF
# facteur, bench config for compare-postfix.sh
hostname = "mx.bench.test"
data_dir = "data"
[log]
level = "info"
file = "facteur.log"
[inbound]
listen = ["127.0.0.1:$FACTEUR_PORT"]
listen_tls = []
domains = ["bench.test"]
[inbound.users]
u = ["u@bench.test"]
[outbound]
enabled = false
EOF
CG_F=$(make_cgroup facteur-bench-facteur)
if [ -n "$CG_F" ]; then
  sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG_F" node "$CLI" start -c "$WORK/facteur/facteur.toml" >"$WORK/facteur/stdout" 2>&1 &
else
  node "$CLI" start -c "$WORK/facteur/facteur.toml" >"$WORK/facteur/stdout" 2>&1 &
fi
FACTEUR_PID=$!
FACTEUR_NEW=$WORK/facteur/data/mail/u/new
for _ in $(seq 300); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$FACTEUR_PORT" && head -c 3 <&3 | grep -q 220) 2>/dev/null; then break; fi
  kill -0 "$FACTEUR_PID" 2>/dev/null || { echo "facteur exited:" >&2; cat "$WORK/facteur/stdout" >&2; exit 1; }
  sleep 0.1
done
mkdir -p "$FACTEUR_NEW"   # made at the first delivery otherwise; inbound-bench.sh wants it now

cpu_note="cgroup cpuacct (exact)"
{ [ -n "$CG_P" ] && [ -n "$CG_F" ]; } || cpu_note="estimate: machine busy CPU minus smtp-source's (no cgroup)"

# One measure: prints inbound-bench.sh's key=value line. Args: server N SESSIONS SIZE MODE.
bench_one() {
  local server=$1 n=$2 s=$3 size=$4 mode=$5 port newdir cg args=""
  if [ "$server" = postfix ]; then port=10025 newdir=$POSTFIX_NEW cg=$CG_P; else port=$FACTEUR_PORT newdir=$FACTEUR_NEW cg=$CG_F; fi
  [ "$mode" = many ] && args="-d"
  CLEAN=1 CGROUP=$cg SMTP_SOURCE_ARGS=$args TIMEOUT=600 bash "$SHARED/inbound-bench.sh" 127.0.0.1 "$port" "$newdir" "$n" "$s" "$size"
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

echo "== warm-up (unmeasured)" >&2
bench_one postfix 200 8 4096 one >/dev/null
bench_one facteur 200 8 4096 one >/dev/null

RAW=$RESULTS/compare-postfix-$STAMP.raw
TABLE=$RESULTS/compare-postfix-$STAMP.md
: > "$RAW"
rows=()
i=0
for size in $SIZES; do
  n=$N4K; [ "$size" -gt 4096 ] && n=$N100K
  for s in $SESSIONS; do
    for mode in $MODES; do
      order="postfix facteur"; [ $((i % 2)) = 1 ] && order="facteur postfix"
      i=$((i + 1))
      declare -A rate=() cpu=()
      for server in $order; do
        echo "== $server: $n × $size octets, $s sessions, $mode per connection" >&2
        line=$(bench_one "$server" "$n" "$s" "$size" "$mode") || { echo "   failed" >&2; line="msgs_per_s=nan server_cpu_ms_per_msg=nan"; }
        echo "server=$server mode=$mode $line" >> "$RAW"
        rate[$server]=$(field msgs_per_s "$line"); cpu[$server]=$(field server_cpu_ms_per_msg "$line")
        echo "   ${rate[$server]} msg/s, ${cpu[$server]} CPU ms/msg" >&2
      done
      rows+=("$(awk -v c="$((size / 1024))k-s$s-$mode" -v n="$n" -v pr="${rate[postfix]}" -v fr="${rate[facteur]}" -v pc="${cpu[postfix]}" -v fc="${cpu[facteur]}" 'BEGIN {
        tr = (pr + 0 > 0) ? sprintf("%.2f", fr / pr) : "-"; cr = (pc + 0 > 0) ? sprintf("%.2f", fc / pc) : "-"
        printf "| inbound-%s | %d | %.0f | %.0f | %s | %.3f | %.3f | %s |", c, n, pr, fr, tr, pc, fc, cr }')")
      unset rate cpu
    done
  done
done

{
  echo "facteur vs Postfix, inbound, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) × $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), $(uname -r), $(node --version), $(postconf -h mail_version 2>/dev/null | sed 's/^/Postfix /')"
  echo "client: Postfix's smtp-source through $SHARED/inbound-bench.sh (one connection per message, or -d: many); wall time until every file is in new/"
  echo "server CPU: $cpu_note; ratio = facteur / Postfix (throughput: above 1 is better; CPU: below 1 is better)"
  echo
  echo "| cell | msgs | Postfix msg/s | facteur msg/s | ratio | Postfix CPU ms/msg | facteur CPU ms/msg | ratio |"
  echo "|:-----|-----:|--------------:|--------------:|------:|-------------------:|-------------------:|------:|"
  printf '%s\n' "${rows[@]}"
} | tee "$TABLE"

# facteur for step 2 is done; stop it so step 3's own servers have the machine.
kill -TERM "$FACTEUR_PID"; wait "$FACTEUR_PID" 2>/dev/null || true; FACTEUR_PID=""

if [ "$TS" = 1 ]; then
  echo >&2; echo "== the same comparison with facteur's own load generator (bench/run.js --compare-postfix)" >&2
  # Postfix keeps running in its cgroup; run.js measures its process tree from /proc itself.
  status=0
  node "$DIST/bench/run.js" --compare-postfix --scenario inbound,outbound --out "$RESULTS" | tee -a "$TABLE" || status=$?
  [ "$status" = 0 ] || echo "compare-postfix: bench/run.js reported failures (exit $status)" >&2
fi
echo >&2; echo "saved $TABLE and $RAW" >&2
