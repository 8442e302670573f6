#!/usr/bin/env bash
# Trains the embedded demo model (resources/demo-model) from the shared corpora with hqq itself:
# a sentencepiece BPE tokenizer (4096 pieces, byte fallback) and a 4-layer Llama-architecture
# model. Held out for evaluation: Moby-Dick, and the State of the Union addresses from 2000 on.
# Usage: scripts/train-demo-model.sh [steps]   (needs a release build: cmake --build --preset release)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-1400}
D=${HQQ_SHARED_DATA:-../shared/data}/corpora
W=build/demo-data
HQQ=build/release/bin/hqq
mkdir -p "$W"

split=$(awk -F'\t' 'NR > 1 && $3 >= 2000 {print $1; exit}' "$D/sotu/sotu_index.tsv")
head -c "$split" "$D/sotu/sotu.txt" > "$W/sotu-train.txt"
tail -c +"$((split + 1))" "$D/sotu/sotu.txt" > "$W/sotu-heldout.txt"
cat "$D/kjv/kjv.txt" "$D/web-bible/web.txt" "$W/sotu-train.txt" > "$W/train.txt"

spm_train --input="$W/train.txt" --model_prefix="$W/tokenizer" --vocab_size=4096 --model_type=bpe \
  --byte_fallback=true --character_coverage=1.0 --normalization_rule_name=identity \
  --remove_extra_whitespaces=false --split_digits=true --max_sentence_length=262144 \
  --num_threads=2 --minloglevel=1

"$HQQ" train --config resources/demo-model-config.json --tokenizer "$W/tokenizer.model" \
  --data "$W/train.txt" --eval "$W/sotu-heldout.txt" -o "$W/model" \
  --steps "$STEPS" --batch 16 --seq-len 256 --lr 2e-3 --warmup 100 --schedule cosine \
  --weight-decay 0.1 --clip 1.0 --eval-every 200 --save-every 200 --seed 1 --resume

out=resources/demo-model
mkdir -p "$out"
cp "$W/model/config.json" "$W/model/model.safetensors" "$W/model/training_log.jsonl" "$out/"
cp "$W/tokenizer.model" "$out/tokenizer.model"
printf '{\n  "bos_token": "<s>",\n  "eos_token": "</s>",\n  "unk_token": "<unk>",\n  "add_bos_token": true,\n  "add_eos_token": false\n}\n' > "$out/tokenizer_config.json"
printf '{\n  "bos_token_id": 1,\n  "eos_token_id": 2\n}\n' > "$out/generation_config.json"
"$HQQ" --json ppl "$out" --text "$D/moby-dick/moby-dick.txt" --ctx 256 > "$W/ppl-moby-dick.json"
"$HQQ" --json ppl "$out" --text "$W/sotu-heldout.txt" --ctx 256 > "$W/ppl-sotu-heldout.json"
cat "$W/ppl-moby-dick.json" "$W/ppl-sotu-heldout.json"
