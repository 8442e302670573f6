#!/bin/bash
# A trial as a user would make it, under a real X server: start hqq-studio at 1024×700 on a fresh
# home folder (first start: the demo model), walk the pages with the keyboard shortcuts, quantize
# the demo model (Ctrl+2, Ctrl+R), and take a screenshot of the screen at each step.
#   tests/gui/xvfb_trial.sh [build/release/bin/hqq-studio] [OUTDIR]
# Needs Xvfb, xdotool and ImageMagick's import (apt-get install xvfb xdotool imagemagick).
set -euo pipefail
bin=$(realpath "${1:-build/release/bin/hqq-studio}")
out=$(realpath -m "${2:-build/release/screenshots/xvfb}")
mkdir -p "$out"
home=$(mktemp -d)
trap 'kill $app $xvfb 2>/dev/null || true; rm -rf "$home"' EXIT
display=:$((90 + RANDOM % 100))
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp &
xvfb=$!
sleep 1
export DISPLAY=$display HOME=$home XDG_CONFIG_HOME=$home/.config XDG_DATA_HOME=$home/.local/share
export QT_QPA_PLATFORM=xcb
"$bin" --threads 2 > "$out/studio.log" 2>&1 &
app=$!
win=
for _ in $(seq 100); do
  win=$(xdotool search --name "HQQ Studio" 2>/dev/null | head -1) && [ -n "$win" ] && break
  sleep 0.2
done
[ -n "$win" ] || { echo "no window"; exit 1; }
xdotool windowmove "$win" 0 0 windowsize "$win" 1024 700
sleep 2
shot() { sleep "${2:-1}"; import -window root -crop 1024x700+0+0 "$out/$1.png"; echo "$out/$1.png"; }
xdotool windowfocus --sync "$win" 2>/dev/null || true
shot 01_model 2
names=(model quantize inspect finetune evaluate chat)
for i in 2 3 4 5 6; do
  xdotool key --window "$win" "ctrl+$i"
  shot "0${i}_${names[$((i - 1))]}"
done
xdotool key --window "$win" ctrl+2
sleep 0.5
xdotool key --window "$win" ctrl+r  # Start
shot 07_quantize_running 0.3
for _ in $(seq 60); do
  sleep 1
  grep -q "Quantization finished\|finished" "$out/studio.log" 2>/dev/null && break
  [ -d "$home/Documents/HQQ Studio/demo-model-hqq-4bit-g64" ] && break
done
shot 08_quantize_done 2
xdotool key --window "$win" ctrl+3
shot 09_inspect_after 1
ls -la "$home/Documents/HQQ Studio" > "$out/outputs.txt" 2>&1 || true
xdotool key --window "$win" ctrl+q
sleep 2
kill -0 $app 2>/dev/null && echo "still running after Ctrl+Q" || echo "quit cleanly"
