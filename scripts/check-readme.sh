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

# Every test the Semantics section's claim table names must exist:
# `suite::test_name` in tests/integration/suite.py, `Suite.Name` in
# tests/unit/<module>/ (a trailing or inner * matches any name).
repo="$(dirname "$0")/.."
missing=0
while read -r name; do
  if [[ $name == */* ]]; then
    continue
  elif [[ $name == *::* ]]; then
    file="$repo/tests/integration/${name%%::*}.py"
    pattern="^def ${name#*::}\("
  elif [[ $name == *.* ]]; then
    file="$repo/tests/unit/*/*.cc"
    pattern="^TEST(_F|_P)?\(${name%%.*}, ${name#*.}[,)]"
  else
    continue
  fi
  pattern=${pattern//\*/[A-Za-z0-9_]*}
  # shellcheck disable=SC2086
  if ! grep -qE "$pattern" $file 2>/dev/null; then
    echo "README.md's claim table names a test that does not exist: $name"
    missing=1
  fi
done < <(sed -n '/^| claim | tests |/,/^$/p' "$readme" | grep -o '`[^`]*`' | tr -d '`')
((missing == 0)) || exit 1
echo "README claim table names only existing tests"
