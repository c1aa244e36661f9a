#!/usr/bin/env bash
# Local stand-ins for the docker stack's pulled images, for a Docker engine that cannot reach the
# image registries (while PyPI and the Debian mirror can be reached):
#   - a Python 3.11 base made with debootstrap (Debian bookworm's python3), shaped like the official
#     python:3.11-slim: `python` and `pip` on PATH, pip installing system-wide, and trusting the
#     certificate authorities this host trusts ($SSL_CERT_FILE, else Debian's bundle), so that pip
#     works behind a TLS-inspecting proxy as it does here;
#   - the MLflow server on that base (compose/mlflow.Dockerfile), at the version pyproject.toml pins.
# The stack's own image (compose/Dockerfile) is built by the runner from BASE_IMAGE. Then:
#   make contract-local STACK=docker BASE_IMAGE=<base> MLFLOW_IMAGE=<mlflow> [DOCKER_NETWORK=host]
#
# Needs root (debootstrap) and debootstrap (apt-get install debootstrap). Builds use the host's
# network, so they work where containers must not use the daemon's bridge.
#   compose/local-images.sh [BASE_NAME [MLFLOW_NAME]]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's/.*"mlflow==\([^"]*\)".*/\1/p' "$here/../pyproject.toml" | head -n 1)
[ -n "$version" ] || { echo "local-images: no mlflow==VERSION pin in pyproject.toml" >&2; exit 2; }
base=${1:-hokusai-local/python:3.11-bookworm}
mlflow=${2:-hokusai-local/mlflow:$version}

if docker image inspect "$base" >/dev/null 2>&1; then
    echo "local-images: $base is present; remove it to rebuild"
else
    command -v debootstrap >/dev/null || {
        echo "local-images: needs debootstrap (apt-get install debootstrap), run as root" >&2; exit 2; }
    rootfs=$(mktemp -d "${TMPDIR:-/tmp}/hokusai-rootfs.XXXXXX")
    trap 'rm -rf "$rootfs"' EXIT
    debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
        bookworm "$rootfs"
    # Debian's PEP 668 marker protects a host's system Python; an image is its own system, as in
    # the official python images, so pip may install there.
    ln -sf python3 "$rootfs/usr/bin/python"
    rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
    cp "${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}" "$rootfs/etc/ssl/certs/ca-certificates.crt"
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
    tar -C "$rootfs" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$base"
fi

docker build --network host --build-arg BASE_IMAGE="$base" --build-arg MLFLOW_VERSION="$version" \
    -t "$mlflow" - < "$here/mlflow.Dockerfile"

echo "local-images: done. Use them with:"
echo "  make contract-local STACK=docker BASE_IMAGE=$base MLFLOW_IMAGE=$mlflow DOCKER_NETWORK=host"
