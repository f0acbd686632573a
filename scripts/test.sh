#!/usr/bin/env bash
# The whole test suite, set-up included: provisions libtorch and Fashion-MNIST (once, cached), checks
# formatting, tests the language front end without libtorch, then everything with libtorch (the report
# test renders a page in headless Chromium, installed here when missing; the Slurm executor's tests
# submit to a single-node Slurm cluster with job accounting, started here and stopped at the end,
# installed when missing).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
nasl_ensure_chromium
nasl_slurm_start
trap nasl_slurm_stop EXIT
cd "$NASL_ROOT"
nasl_log "checking formatting"
cargo fmt --all --check
nasl_log "testing the language front end without libtorch"
cargo test --no-default-features
nasl_log "testing everything with libtorch (a first build compiles libtorch's bindings: about 5 minutes)"
cargo test
