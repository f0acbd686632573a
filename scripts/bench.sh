#!/usr/bin/env bash
# scripts/bench.sh - runs the nasl-versus-PyTorch benchmark (bench/run.py) in one command: provisions the
# environment (scripts/env.sh: toolchain, PyTorch venv, Fashion-MNIST), then passes its arguments on,
# e.g. scripts/bench.sh -r 5 --threads 2, or scripts/bench.sh --quick.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$NASL_ROOT"
exec python bench/run.py "$@"
