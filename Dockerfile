# localtypes: the model, the REST service and the CLI in one image.
#
#   docker build -t localtypes .
#   docker run --rm -p 127.0.0.1:80:8080 localtypes                  # the service
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD:/src" localtypes annotate .   # the CLI
#
# Behind a TLS-intercepting proxy, give pip your CA bundle as a BuildKit secret (it never
# lands in a layer):  DOCKER_BUILDKIT=1 docker build --secret id=pip_cert,src=/path/ca.pem .
# Without registry access, build a base from Debian packages (scripts/make_base_image.sh)
# and pass it: --build-arg BASE_IMAGE=localtypes-base:bookworm. Any base with python3 >= 3.9
# and its venv module works; both stages must use the same base (the venv links to it).
ARG BASE_IMAGE=python:3.11-slim

# ---- builder: the dependencies in /opt/venv, localtypes and its model in /opt/app ----------
FROM ${BASE_IMAGE} AS builder
SHELL ["/bin/sh", "-eu", "-c"]
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PIP_ROOT_USER_ACTION=ignore
# /opt/venv is what runs, without pip in it; the pip in /opt/pip fills it (pip --python).
RUN python3 -m venv /opt/pip && python3 -m venv --without-pip /opt/venv
WORKDIR /build

# 1. The dependencies (setup.cfg's install_requires, its verify extra: mypy, for
#    annotate --verify and "verify": true, and its lsp extra: pygls, for
#    `docker run -i localtypes lsp`) in a layer of their own, so that a new
#    model or a code change ships as a few megabytes. Left out: what inference never loads
#    (about 60 MB): test suites, onnxruntime's C API library (the Python module carries its
#    own copy of the runtime) and its offline tools (quantization, transformer surgery);
#    the runtime stage's smoke prediction proves the rest is enough.
COPY setup.cfg ./
RUN --mount=type=secret,id=pip_cert \
    --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi; \
    python3 -c 'import configparser; c = configparser.ConfigParser(interpolation=None); c.read("setup.cfg"); print(c["options"]["install_requires"]); print(c["options.extras_require"]["verify"]); print(c["options.extras_require"]["lsp"])' > requirements.txt; \
    /opt/pip/bin/pip --python /opt/venv/bin/python install -r requirements.txt; \
    site=$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
    rm -rf "$site"/onnxruntime/capi/libonnxruntime.so.* \
           "$site"/onnxruntime/tools "$site"/onnxruntime/transformers \
           "$site"/onnxruntime/quantization; \
    find "$site" -depth -type d -name tests -exec rm -rf {} +; \
    echo /opt/app > "$site/localtypes-app.pth"

# 2. localtypes itself, with the model store that setup.cfg installs as data files.
COPY pyproject.toml setup.cfg README.md ./
COPY localtypes/ localtypes/
COPY model_store/localtypes-small/ model_store/localtypes-small/
RUN --mount=type=secret,id=pip_cert \
    --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi; \
    /opt/pip/bin/pip --python /opt/venv/bin/python install --no-deps --target /opt/app .

# ---- runtime: the base, the two folders; no compilers, no pip, not root --------------------
FROM ${BASE_IMAGE} AS runtime
SHELL ["/bin/sh", "-eu", "-c"]
ARG VERSION=dev
LABEL org.opencontainers.image.title="localtypes" \
      org.opencontainers.image.description="Type annotations for Python, predicted by a small model that runs locally" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}"

RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/localtypes \
        --shell /usr/sbin/nologin localtypes \
    && mkdir -p /src

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/app /opt/app

ENV PATH=/opt/app/bin:/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LOCALTYPES_MODEL=/opt/app/share/localtypes/model_store/localtypes-small \
    LOCALTYPES_HOST=0.0.0.0 \
    LOCALTYPES_PORT=8080 \
    LOCALTYPES_CACHE_DIR=/tmp/localtypes-cache \
    ORT_DISABLE_TELEMETRY=1

# Refuse to build an image whose model store is damaged: the loader checks the manifest's
# format version and the sha256 of every file. Runs as the service user, so the store is
# known to be readable by it.
USER 10001:10001
RUN python -c 'from localtypes.model.store import load_store; s = load_store(); print("model store OK:", s.name, s.version, s.model_sha256)' \
    && python -c 'from localtypes.api import predict; p = predict("def f(n=1):\n    return [n]\n"); print("smoke prediction OK:", [s.guesses[0].label for s in p.slots if s.guesses])' \
    && python -c 'import localtypes.lsp.server; print("language server OK")'

WORKDIR /src
EXPOSE 8080
# Ready = model loaded and one warm-up inference done. curl is not in every base: use python.
HEALTHCHECK --interval=5s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/v2/health/ready' % os.environ.get('LOCALTYPES_PORT', '8080'), timeout=2)"]
# Exec form: the server is PID 1 and gets SIGTERM itself (it drains and exits).
ENTRYPOINT ["localtypes"]
CMD ["serve"]
