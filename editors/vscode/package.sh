#!/bin/sh
# Builds editors/vscode/nasl.vsix: the client (extension.js and its npm dependencies), the grammar and
# the language configuration. Needs Node.js 18+ and npm. Install: `code --install-extension nasl.vsix`.
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund 2>/dev/null || npm install --no-audit --no-fund
npm run package
