#!/usr/bin/env bash
# Reproduces the figures in docs/RESULTS.md on the embedded demo model:
#  1. HQQ error table: relative Frobenius error and time per bits x group size x optimizer;
#  2. perplexity of quantized models on held-out text;
#  3. HQQ+: LoRA fine-tuning of 2-bit and 1-bit models, perplexity before and after.
# Usage: scripts/eval-demo.sh [OUT]   (needs a release build and build/demo-data from
# scripts/train-demo-model.sh for the held-out text)
set -euo pipefail
cd "$(dirname "$0")/.."
HQQ=${HQQ:-build/release/bin/hqq}
OUT=${1:-build/eval}
MODEL=resources/demo-model
HELD=build/demo-data/sotu-heldout.txt
TRAIN=build/demo-data/train.txt
MOBY=${HQQ_SHARED_DATA:-../shared/data}/corpora/moby-dick/moby-dick.txt
PPL_TOKENS=${PPL_TOKENS:-65536}
mkdir -p "$OUT"

ppl() {  # model [adapter] -> perplexity on the held-out SOTU text
  local extra=""
  [ -n "${2:-}" ] && extra="--adapter $2"
  "$HQQ" -q --json $extra ppl "$1" --text "$HELD" --ctx 256 --batch 8 --max-tokens "$PPL_TOKENS" | python3 -c 'import json,sys; print("%.3f" % json.load(sys.stdin)["ppl"])'
}

echo "full precision: ppl $(ppl $MODEL)" | tee "$OUT/summary.txt"
printf '| bits | group | optimizer | rel. error | seconds | ppl |\n|---|---|---|---|---|---|\n' > "$OUT/hqq_table.md"
for spec in 1:8 1:16 1:32 1:64 2:16 2:32 2:64 3:64 4:32 4:64 8:128; do
  bits=${spec%%:*}; group=${spec##*:}
  for opt in off reference improved; do
    q="$OUT/q-$bits-$group-$opt"
    rz=""; [ "$bits" = 4 ] && rz="--round-zero"  # the reference config's default
    "$HQQ" -q --json quantize "$MODEL" -o "$q" --bits "$bits" --group-size "$group" --optimizer "$opt" $rz --overwrite > "$q.json"
    read -r err secs < <(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("%.4f %.3f" % (j["rel_error"], j["seconds"]))' "$q.json")
    p=$(ppl "$q")
    printf '| %s | %s | %s | %s | %s | %s |\n' "$bits" "$group" "$opt" "$err" "$secs" "$p" | tee -a "$OUT/hqq_table.md"
  done
done

STEPS=${HQQ_PLUS_STEPS:-300}
printf '| model | HQQ ppl | HQQ+ ppl | adapter params |\n|---|---|---|---|\n' > "$OUT/hqq_plus_table.md"
for spec in 2:32 1:16 1:64; do
  bits=${spec%%:*}; group=${spec##*:}
  q="$OUT/q-$bits-$group-improved"
  [ -d "$q" ] || "$HQQ" -q quantize "$MODEL" -o "$q" --bits "$bits" --group-size "$group" --overwrite
  ad="$OUT/adapter-$bits-$group"
  "$HQQ" -q finetune "$q" --data "$TRAIN" -o "$ad" --steps "$STEPS" --batch 8 --seq-len 256 --lr 1e-3 \
    --warmup 20 --attn-rank 32 --mlp-rank 8 --rank 16 --eval-every 0 --seed 1 --resume
  n=$(python3 -c 'import json,struct,sys; f=open(sys.argv[1],"rb"); h=json.loads(f.read(struct.unpack("<Q",f.read(8))[0])); print(sum(__import__("math").prod(v["shape"]) for k,v in h.items() if k!="__metadata__"))' "$ad/adapter_model.safetensors")
  printf '| %s-bit g%s | %s | %s | %s |\n' "$bits" "$group" "$(ppl "$q")" "$(ppl "$q" "$ad")" "$n" | tee -a "$OUT/hqq_plus_table.md"
done
echo "Moby-Dick (held out): full precision $("$HQQ" -q --json ppl $MODEL --text "$MOBY" --ctx 256 --batch 8 --max-tokens "$PPL_TOKENS" | python3 -c 'import json,sys; print("%.3f" % json.load(sys.stdin)["ppl"])')" | tee -a "$OUT/summary.txt"
