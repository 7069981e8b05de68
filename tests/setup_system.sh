#!/usr/bin/env bash
# System packages for the real-component tests (run as root by tests/run.sh).
set -euo pipefail
need=()
for pkg in git time; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
