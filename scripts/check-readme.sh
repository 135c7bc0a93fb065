#!/usr/bin/env bash
# Checks that the README's option list is exactly what `zarrmount --help`
# prints. Usage: scripts/check-readme.sh BUILD/zarrmount
set -euo pipefail
bin=${1:?usage: check-readme.sh ZARRMOUNT}
readme="$(dirname "$0")/../README.md"
want=$("$bin" --help | sed -n '/^Options:/,/^$/p' | sed '1d;$d')
have=$(sed -n '/^### Options/,/^SIZE takes/p' "$readme" | sed -n '/^```$/,/^```$/p' | sed '1d;$d')
if [[ "$want" != "$have" ]]; then
  echo "README.md's option list differs from 'zarrmount --help':"
  diff <(echo "$have") <(echo "$want") || true
  exit 1
fi
echo "README option list matches --help"
