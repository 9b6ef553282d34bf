# syntax=docker/dockerfile:1
# Herald image: `herald serve` by default; the same image runs `herald worker` and
# `herald check-config`. The dev tooling (service/dev: the provider simulator, `herald dev`)
# is not in it; the `dev` target adds it for docker compose's simulator.
#   docker build -t herald:0.1.0 .
#   docker build --target dev -t herald:dev .
#   docker run --rm herald:0.1.0 check-config /etc/herald/herald.yaml

# -- build: Herald and every dependency as wheels, at the versions in requirements/ --------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements/runtime.lock requirements/dev.lock ./requirements/
RUN python -m pip wheel --wheel-dir /wheels -r requirements/runtime.lock \
 && cp requirements/runtime.lock /wheels/
COPY pyproject.toml README.md ./
COPY service ./service
COPY routing ./routing
COPY schedules ./schedules
COPY integrations ./integrations
# The dev tooling stays out of the production wheel (the `dev` target below adds it).
RUN rm -rf service/dev
# The build backend at its locked version too; Herald's own wheel takes no dependency.
RUN grep -E '^(setuptools|wheel)==' requirements/dev.lock > /tmp/build.txt \
 && python -m pip install -r /tmp/build.txt \
 && python -m pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .

# -- runtime: no compiler, no source tree, not root ---------------------------------------
FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HERALD_CONFIG=/etc/herald/herald.yaml
RUN groupadd --system --gid 10001 herald \
 && useradd --system --uid 10001 --gid herald --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin herald
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m pip install --no-index --find-links=/wheels -r /wheels/runtime.lock herald
# The example configuration, so the image starts as it is; mount your own over /etc/herald.
COPY deploy/examples/herald.yaml /etc/herald/herald.yaml
COPY deploy/examples/calendars /etc/herald/calendars
WORKDIR /tmp
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["herald"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]

# -- dev: the production image plus the dev tooling (the provider simulator, `herald dev`) --
FROM runtime AS dev
USER root
COPY service/dev /usr/local/lib/python3.11/site-packages/service/dev
USER 10001:10001

# -- the default target: production -------------------------------------------------------
FROM runtime
