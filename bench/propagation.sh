#!/usr/bin/env bash
# How fast a change made on one instance reaches another on the same
# PostgreSQL database: 100 revocations on A watched from B, and 100
# suspensions on B watched from A. Prints the median and maximum delay
# (from the change's answer to the other instance's first 401).
#
#   bash bench/propagation.sh        # TRIALS=100 to change
set -euo pipefail
cd "$(dirname "$0")/.."
TRIALS=${TRIALS:-100} cargo test --release -q -p tessera-cli --test instances -- --nocapture 2>&1 \
  | grep -E "trials|test result"
