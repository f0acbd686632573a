#!/usr/bin/env bash
# The README's main command: set-up (libtorch, Fashion-MNIST; once, cached), a release build, then the
# quickstart pipeline on the built-in default dataset.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
"$here/nasl" dataset fashion_mnist
echo "nasl: the executor (nasl run) is not built yet; the quickstart loads its dataset above and stops here." >&2
