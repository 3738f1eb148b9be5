#!/usr/bin/env bash
# The PromQL conformance tests and bench/promql.py compare Pulseboard with a real Prometheus:
# Debian's prometheus package (prometheus and promtool); install it once if missing.
set -euo pipefail
if [ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ]; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  echo "The PromQL conformance tests need /usr/bin/prometheus and /usr/bin/promtool: run 'sudo apt-get install prometheus' once." >&2
  exit 1
fi
echo "Installing Debian prometheus for the PromQL conformance tests..."
apt-get -o DPkg::Lock::Timeout=600 update -qq
# The package's post-install would start a system service; there is no init here, and none is wanted.
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends prometheus >/dev/null
