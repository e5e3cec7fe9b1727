#!/usr/bin/env bash
# Build the front-end assets: GOV.UK Frontend from the pinned npm package into static_build/,
# and axe-core for the browser tests into tests/browser/vendor/ (never served: not a static dir).
# Neither is committed; Django finds static_build/ through STATICFILES_DIRS. Safe to run again.
# Run from the repository root: scripts/build_static.sh
set -euo pipefail

cd "$(dirname "$0")/.."

if [[ -f package-lock.json ]]; then
  npm ci --no-audit --no-fund --ignore-scripts
else
  npm install --no-audit --no-fund --ignore-scripts
fi

src="node_modules/govuk-frontend/dist/govuk"
out="static_build/govuk"

for file in govuk-frontend.min.css govuk-frontend.min.js; do
  if [[ ! -f "$src/$file" ]]; then
    echo "build_static: $src/$file is missing; is govuk-frontend installed?" >&2
    exit 1
  fi
done

# Replace the output as a whole so files removed upstream do not linger.
rm -rf "$out"
mkdir -p "$out"
# The source maps go too: ManifestStaticFilesStorage follows sourceMappingURL comments and
# collectstatic fails if the map they name is absent.
cp "$src/govuk-frontend.min.css" "$src/govuk-frontend.min.css.map" "$out/"
cp "$src/govuk-frontend.min.js" "$src/govuk-frontend.min.js.map" "$out/"
cp -R "$src/assets" "$out/assets"

# axe-core runs only inside the browser tests (tests/browser/axe.py injects it into the page).
axe_src="node_modules/axe-core/axe.min.js"
axe_out="tests/browser/vendor"
if [[ ! -f "$axe_src" ]]; then
  echo "build_static: $axe_src is missing; is axe-core installed?" >&2
  exit 1
fi
mkdir -p "$axe_out"
cp "$axe_src" "$axe_out/axe.min.js"
echo "build_static: axe-core $(node -p "require('./node_modules/axe-core/package.json').version") copied to $axe_out"

echo "build_static: GOV.UK Frontend $(node -p "require('./node_modules/govuk-frontend/package.json').version") copied to $out"
