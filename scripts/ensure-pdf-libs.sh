#!/usr/bin/env bash
# PDF reports use WeasyPrint, which loads Debian's Pango (and fonts) at run time; install them once if missing.
set -euo pipefail
if ldconfig -p | grep -q 'libpangoft2-1.0.so.0' && ldconfig -p | grep -q 'libpango-1.0.so.0' \
  && [ -d /usr/share/fonts/truetype/dejavu ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "PDF reports need Pango: run 'sudo apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core' once." >&2
  exit 1
fi
echo "Installing Pango and fonts for PDF reports..."
apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core >/dev/null
