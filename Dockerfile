# mediaproxy, the image service: `mediaproxy serve` on port 8080, as a non-root user.
#
#   docker build -t mediaproxy .
#   docker run -p 8080:8080 mediaproxy         # embedded demo: files inside the container
#   docker run -p 8080:8080 \
#     -v "$PWD/mediaproxy.toml:/etc/mediaproxy/mediaproxy.toml:ro" \
#     -e MEDIAPROXY_CONFIG=/etc/mediaproxy/mediaproxy.toml \
#     -e AWS_ACCESS_KEY_ID=... -e AWS_SECRET_ACCESS_KEY=... mediaproxy
#
# Any key can also come from the environment as MEDIAPROXY_<SECTION>_<KEY>. There is no
# Docker engine in CI: scripts/docker-steps.sh replays these steps in a clean virtualenv.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Wheels only: pyvips-binary carries libvips, so no apt package and no compiler.
COPY pyproject.toml README.md /tmp/src/
COPY problems /tmp/src/problems
COPY config /tmp/src/config
COPY resize /tmp/src/resize
COPY layouts /tmp/src/layouts
COPY storage /tmp/src/storage
COPY telemetry /tmp/src/telemetry
COPY rendering /tmp/src/rendering
COPY bulk /tmp/src/bulk
COPY proxy /tmp/src/proxy
COPY cli /tmp/src/cli
RUN python -m venv /opt/mediaproxy \
    && /opt/mediaproxy/bin/pip install --no-cache-dir /tmp/src \
    && rm -rf /tmp/src \
    && useradd --system --uid 10001 --user-group --create-home \
        --home-dir /var/lib/mediaproxy --shell /usr/sbin/nologin mediaproxy
COPY config/mediaproxy.example.toml /etc/mediaproxy/mediaproxy.example.toml

# MALLOC_ARENA_MAX: glibc's per-thread arenas make libvips worker threads hold on to
# hundreds of MB of freed memory; two arenas keep the resident size flat.
ENV PATH=/opt/mediaproxy/bin:$PATH \
    MALLOC_ARENA_MAX=2 \
    MEDIAPROXY_SERVER_HOST=0.0.0.0 \
    MEDIAPROXY_SERVER_PORT=8080

USER 10001:10001
WORKDIR /var/lib/mediaproxy
EXPOSE 8080
# The slim image has no curl; the standard library does the check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('MEDIAPROXY_SERVER_PORT', '8080'), timeout=4)"]
CMD ["mediaproxy", "serve"]
