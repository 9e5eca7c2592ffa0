# syntax=docker/dockerfile:1
#
# One image for both components: `seccomp-operator controller` (Deployment) and `seccomp-operator agent` (DaemonSet).
#
#   docker build -t seccomp-operator:0.1.0 .
#
# The base is pinned by exact tag here; a release pins it by digest as well
# (python:3.11.11-slim-bookworm@sha256:...), so a rebuild cannot silently pick up a different base.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# --- build: the project and all its dependencies as wheels (every dependency ships a wheel or is pure Python,
# so no compiler is needed even here) -----------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY seccomp_operator ./seccomp_operator
RUN python -m pip wheel --wheel-dir /wheels .

# --- runtime: a venv holding only the wheels, libseccomp for the profile compiler, nothing to build with ----------
FROM ${PYTHON_IMAGE} AS runtime
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PATH=/opt/seccomp-operator/bin:$PATH
# pyseccomp loads libseccomp.so.2 with ctypes (syscall names and architectures are checked against it).
RUN apt-get update \
    && apt-get install --yes --no-install-recommends libseccomp2 \
    && rm -rf /var/lib/apt/lists/*
# The wheels are bind-mounted from the build stage, so they never become a layer of this image; the venv gets no
# pip of its own (the base image's pip installs into it).
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv --without-pip /opt/seccomp-operator \
    && python -m pip --python /opt/seccomp-operator/bin/python install --no-index --find-links=/wheels \
       seccomp-operator \
    && seccomp-operator --help >/dev/null
# Non-root by default (the controller); the agent's DaemonSet sets runAsUser 0 with every capability dropped.
USER 65532:65532
ENTRYPOINT ["seccomp-operator"]
CMD ["--help"]

LABEL org.opencontainers.image.title="seccomp-operator" \
      org.opencontainers.image.description="Validates SeccompProfiles and installs them atomically on every node" \
      org.opencontainers.image.licenses="Apache-2.0"
