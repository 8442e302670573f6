#!/usr/bin/env bash
# Fails when a core folder includes a header of a folder above it, or core includes Qt.
# The order is core/CMakeLists.txt's: a folder may include itself and the folders it links.
set -euo pipefail
cd "$(dirname "$0")/../.."
declare -A allowed=(
  [base]="base"
  [io]="base io"
  [text]="base text"
  [model]="base io text model"
  [quant]="base io text model quant"
  [load]="base io text model quant load"
  [generate]="base io text model quant load generate"
  [train]="base io text model quant load generate train"
)
bad=0
for dir in "${!allowed[@]}"; do
  while IFS= read -r line; do
    file=${line%%:*}
    inc=$(sed -E 's#.*"core/([a-z_]+)/.*#\1#' <<<"$line")
    if [[ " ${allowed[$dir]} " != *" $inc "* ]]; then
      echo "layering: $line (core/$dir may not include core/$inc)"
      bad=1
    fi
  done < <(grep -rnE '#include "core/[a-z_]+/' "core/$dir" || true)
  if grep -rnE '#include <Q[A-Za-z]+' "core/$dir"; then
    echo "layering: core/$dir includes Qt"
    bad=1
  fi
done
for f in core/*.h core/*.cpp; do
  [ -e "$f" ] && { echo "layering: $f sits outside a layer folder"; bad=1; }
done
# No source file in core over 600 lines.
while read -r n f; do
  [ "$f" = total ] && continue
  [ "$n" -gt 600 ] && { echo "size: $f has $n lines (at most 600)"; bad=1; }
done < <(find core -name '*.cpp' -o -name '*.h' | xargs wc -l)
[ $bad -eq 0 ] && echo "layering: core folders include only downwards; no file over 600 lines"
exit $bad
