#!/usr/bin/env bash
# The README's main command: set-up (libtorch, Fashion-MNIST; once, cached), a release build, then the
# quickstart pipeline on the built-in default dataset, as far as nasl can take it today.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
pipeline="$here/../pipelines/quickstart.nas"
"$here/nasl" dataset fashion_mnist
"$here/nasl" check "$pipeline"
"$here/nasl" inspect "$pipeline"
echo "nasl: the executor (nasl run) is not built yet: the quickstart stops after loading its dataset, checking the pipeline and sizing its search space." >&2
