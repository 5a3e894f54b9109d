#!/usr/bin/env bash
# Installs Debian's nginx for the test that checks deploy/nginx.conf with `nginx -t`, if missing.
# Only the binary is needed: the package's own site is never started by the test.
set -euo pipefail
if [ -x /usr/sbin/nginx ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "apt-get not available: the nginx configuration test will be skipped" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
# policy-rc.d-free containers may try to start the service after installing; that failure is harmless here.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nginx >/dev/null || [ -x /usr/sbin/nginx ]
