#!/usr/bin/env bash
# builds-ab.sh: two builds of facteur (two checkouts, each after `npm run build`) through the same bench scenario,
# in alternation (A, B, A, B, ...), so that the machine's drift falls on both. On this shared two-vCPU machine one
# run's ratio is worth about ±0.1 (README, Performance): a change is only told apart from the noise by several
# pairs, run back to back.
#   bench/builds-ab.sh DIR_A DIR_B SCENARIO [PAIRS]     (default 3 pairs; OUT: where the JSON goes)
# One line per run: the build, the scenario, its msg/s and, for the cells measured off and on (mailauth), the on/off
# ratio and the machine's CPU per message on each side.
set -eu
[ $# -ge 3 ] || { echo "usage: builds-ab.sh DIR_A DIR_B SCENARIO [PAIRS]" >&2; exit 2; }
a=$(cd "$1" && pwd) b=$(cd "$2" && pwd) scenario=$3 pairs=${4:-3}
for d in "$a" "$b"; do
  [ -f "$d/dist/bench/run.js" ] || { echo "builds-ab: no dist/bench/run.js in $d (npm run build there first)" >&2; exit 2; }
done
out=${OUT:-$(mktemp -d /tmp/facteur-builds-ab.XXXXXX)}
mkdir -p "$out"
for i in $(seq 1 "$pairs"); do
  for side in A B; do
    dir=$a; [ "$side" = B ] && dir=$b
    json="$out/$side-$i.json"
    (cd "$dir" && node dist/bench/run.js --scenario "$scenario" --json-only > "$json" 2> "$out/$side-$i.log")
    node -e '
      const doc = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
      for (const r of doc.results) {
        const f = r.figures ?? {};
        const parts = [process.argv[2], r.id, `${Math.round(f.msgsPerSec ?? 0)} msg/s`];
        if (f.offMsgsPerSec) parts.push(`ratio ${(f.msgsPerSec / f.offMsgsPerSec).toFixed(3)}`);
        if (f.offMachineCpuMsPerMsg) parts.push(`machine ms/msg off ${f.offMachineCpuMsPerMsg.toFixed(3)} on ${f.machineCpuMsPerMsg.toFixed(3)}`);
        if (f.ed25519MsgsPerSec) parts.push(`Ed25519 ratio ${(f.ed25519MsgsPerSec / f.offMsgsPerSec).toFixed(3)}`);
        if (!r.ok) parts.push("FAILED");
        console.log(parts.join("  "));
      }' "$json" "$side$i"
  done
done
echo "JSON in $out"
