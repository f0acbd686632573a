#!/usr/bin/env bash
# The README's main command: set-up (libtorch, Fashion-MNIST; once, cached), a release build, then the
# quickstart pipeline on the built-in default dataset: supernet training, evolutionary search, retraining
# and test evaluation, in a new run directory under runs/ (its path is printed last).
# Extra arguments go to `nasl run` (e.g. --seed 1, --out DIR, --resume DIR).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/nasl check pipelines/quickstart.nas
scripts/nasl run pipelines/quickstart.nas "$@"
