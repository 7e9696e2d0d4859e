# oauthwatch: one image for the service (`oauthwatch run`, the default) and the dashboard.
# Build: docker build -t oauthwatch .      Run both with PostgreSQL: docker compose up -d
# Slim, non-root, pinned base; dependencies from requirements.lock exactly, then the project
# itself with --no-deps so no runtime dependency is resolved beyond the lock. See docs/deploy.md.

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
COPY requirements.lock /src/requirements.lock
RUN /opt/venv/bin/pip install -r /src/requirements.lock
COPY pyproject.toml README.md /src/
COPY oauthwatch /src/oauthwatch
COPY collectors /src/collectors
COPY dashboard /src/dashboard
RUN /opt/venv/bin/pip install --no-deps /src \
 && /opt/venv/bin/python -c "import dashboard, pathlib; assert (pathlib.Path(dashboard.__file__).parent / 'static/topojson/world_110m.json').is_file()" \
 && /opt/venv/bin/oauthwatch --help > /dev/null

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="oauthwatch" \
      org.opencontainers.image.description="Monitor Salesforce Connected App OAuth usage" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib \
    OAUTHWATCH_CONFIG=/etc/oauthwatch/oauthwatch.toml
RUN groupadd --system --gid 10001 oauthwatch \
 && useradd --system --uid 10001 --gid oauthwatch --home-dir /var/lib/oauthwatch --create-home \
      --shell /usr/sbin/nologin oauthwatch
COPY --from=build /opt/venv /opt/venv
WORKDIR /var/lib/oauthwatch
USER 10001:10001
# 8501: the dashboard; 9464: `run --metrics-port 9464` (Prometheus, compose.yaml)
EXPOSE 8501 9464
# The service's heartbeat must be fresh; the dashboard container overrides this (compose.yaml).
HEALTHCHECK --interval=60s --timeout=15s --start-period=120s --retries=3 CMD ["oauthwatch", "health"]
ENTRYPOINT ["oauthwatch"]
CMD ["run"]
