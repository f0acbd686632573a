#!/usr/bin/env bash
# The README's main command: set-up (libtorch, Fashion-MNIST; once, cached), a release build, then the
# quickstart pipeline on the built-in default dataset, as far as nasl can take it today.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/nasl dataset fashion_mnist
scripts/nasl check pipelines/quickstart.nas
scripts/nasl inspect pipelines/quickstart.nas
echo "nasl: the executor (nasl run) is not built yet: the quickstart stops after loading its dataset, checking the pipeline and sizing its search space." >&2
