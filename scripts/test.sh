#!/usr/bin/env bash
# The whole test suite, set-up included: provisions libtorch and Fashion-MNIST (once, cached), checks
# formatting, tests the language front end without libtorch, then everything with libtorch.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$NASL_ROOT"
cargo fmt --all --check
cargo test --no-default-features
cargo test
