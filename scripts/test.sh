#!/usr/bin/env bash
# Run the whole test suite: real libvips, a real moto S3 server, the real nginx binary.
# Extra arguments go to pytest (e.g. scripts/test.sh -x tests/test_serve.py).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/bootstrap.sh"
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  echo "Installing nginx (the nginx tests run the real binary on loopback)..." >&2
  apt_install nginx
fi
cd "$root"
exec "$root/.venv/bin/python" -m pytest "$@"
