#!/usr/bin/env bash
# Browser tests drive Debian's Chromium (never a downloaded browser); install it once if missing.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  echo "Browser tests need /usr/bin/chromium: run 'sudo apt-get install chromium' once." >&2
  exit 1
fi
echo "Installing Debian chromium for the browser tests..."
apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium >/dev/null
