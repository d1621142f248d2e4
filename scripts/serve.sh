#!/usr/bin/env bash
# Run mediaproxy. With no --config and no $MEDIAPROXY_CONFIG it runs the embedded default:
# local files under ./var/media and a demo site with a sample image.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/bootstrap.sh"
cd "$root"
exec "$root/.venv/bin/mediaproxy" serve "$@"
