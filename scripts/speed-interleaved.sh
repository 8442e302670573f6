#!/usr/bin/env bash
# Decode speed of HQQ Studio beside llama.cpp, interleaved: ROUNDS rounds, each one llama-bench
# tg run of every GGUF and one `hqq generate` of every HQQ folder, one after the other. On a
# shared machine the memory bandwidth left to us moves by ±30 % within minutes (the same hqq
# command gave 120-186 tokens/s in five runs in a row), so one run of each side says little;
# the median of the per-round ratios compares the two under the same load.
#
#   speed-interleaved.sh PAIR... where PAIR = GGUF=HQQ_FOLDER
#     e.g. /tmp/hqq-peer/run.X/Q4_0.gguf=/tmp/tl486-4bit-g64-h8
# env: HQQ (build/release/bin/hqq), PEER_DIR (/tmp/hqq-peer, side-by-side.sh builds llama.cpp
#      there), THREADS (2), TG (64), ROUNDS (7)
# Prints one line per round and a Markdown table of medians.
set -euo pipefail
HQQ=${HQQ:-$PWD/build/release/bin/hqq}; PEER_DIR=${PEER_DIR:-/tmp/hqq-peer}
THREADS=${THREADS:-2}; TG=${TG:-64}; ROUNDS=${ROUNDS:-7}; PY=/usr/bin/python3
B=$PEER_DIR/llama.cpp/build/bin
[ -x "$B/llama-bench" ] || { echo "no llama-bench in $B (run side-by-side.sh speed once)" >&2; exit 2; }
[ -x "$HQQ" ] || { echo "no hqq at $HQQ (set HQQ=...)" >&2; exit 2; }
[ $# -gt 0 ] || { echo "usage: speed-interleaved.sh GGUF=HQQ_FOLDER ..." >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
prompt=$(head -c 512 "$here/../resources/sample-data/eval.txt" | tr '\n' ' ')
log=$(mktemp /tmp/speed-interleaved.XXXXXX)

for r in $(seq "$ROUNDS"); do
  for pair in "$@"; do
    g=${pair%%=*}; h=${pair#*=}
    l=$("$B/llama-bench" -m "$g" -p 0 -n "$TG" -t "$THREADS" -mmp 0 -r 1 -o json 2>/dev/null |
      $PY -c 'import json,sys; print("%.2f" % json.load(sys.stdin)[0]["avg_ts"])')
    o=$("$HQQ" --json --threads "$THREADS" generate "$h" -p "$prompt" -n "$TG" --temperature 0 \
      2>/dev/null | $PY -c 'import json,sys; s=sys.stdin.read(); print("%.2f" % json.loads(s[s.index("{"):])["decode_tokens_per_second"])')
    echo "round $r | $(basename "$g") $l | $(basename "$h") $o | ratio $($PY -c "print('%.3f' % ($o / $l))")"
    echo "$(basename "$g") $(basename "$h") $l $o" >>"$log"
  done
done
echo; echo "| llama.cpp | t/s (median) | HQQ Studio | t/s (median) | ratio: median (min-max) of $ROUNDS rounds |"
echo "|---|---|---|---|---|"
$PY - "$log" <<'EOF'
import statistics, sys, collections
rows = collections.OrderedDict()
for line in open(sys.argv[1]):
    g, h, l, o = line.split(); rows.setdefault((g, h), []).append((float(l), float(o)))
for (g, h), v in rows.items():
    r = [o / l for l, o in v]
    print("| %s | %.1f | %s | %.1f | **%.2f×** (%.2f-%.2f) |" % (g, statistics.median(l for l, _ in v),
          h, statistics.median(o for _, o in v), statistics.median(r), min(r), max(r)))
EOF
rm -f "$log"
