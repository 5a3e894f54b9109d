#!/usr/bin/env bash
# Installs axe-core (the accessibility checker the browser tests inject into each page,
# tests/test_accessibility.py) from npm into the git-ignored .axe/ folder, if missing.
# Pinned: a new axe version adds rules, and the tests' "0 serious or critical" would move.
set -euo pipefail
VERSION=4.14.1
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="$ROOT/.axe"
if [ -f "$TARGET/node_modules/axe-core/axe.min.js" ] && \
   grep -q "\"version\": \"$VERSION\"" "$TARGET/node_modules/axe-core/package.json"; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "install-axe.sh: npm is needed to install axe-core (Debian: apt-get install npm)" >&2
  exit 1
fi
mkdir -p "$TARGET"
npm install --prefix "$TARGET" --no-save --no-audit --no-fund --no-package-lock --silent "axe-core@$VERSION"
test -f "$TARGET/node_modules/axe-core/axe.min.js"
