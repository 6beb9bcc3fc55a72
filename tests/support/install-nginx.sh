#!/usr/bin/env bash
# Installs nginx from Debian's packages for the Label Studio end-to-end tests, unless it is
# there already (idempotent). Needs root (or sudo). The package's service is not started:
# the tests run their own nginx on 127.0.0.1 with a generated config.
set -euo pipefail

if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
    echo "nginx: $( (command -v nginx || echo /usr/sbin/nginx) ) already installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

# Keep the package's post-install script from starting a system nginx on port 80.
added_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    added_policy=1
fi
cleanup() { if [ -n "$added_policy" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends nginx-light \
    || $SUDO apt-get install -y --no-install-recommends nginx
/usr/sbin/nginx -v
