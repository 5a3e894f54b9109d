#!/usr/bin/env bash
# Installs Debian's LibreOffice Writer (no GUI) for reading .doc and .wps files
# (corpus/office_convert.py), if missing. Never a download from anywhere else.
set -euo pipefail
if command -v soffice >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
# another apt (a helper, unattended-upgrades) may hold the lock for a while
for _ in $(seq 1 60); do
  if $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      libreoffice-writer-nogui >/dev/null; then
    exit 0
  fi
  sleep 5
done
echo "无法安装 libreoffice-writer-nogui（apt-get 失败）" >&2
exit 1
