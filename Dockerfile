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
# pip reads these from the environment. Unset (the default), it uses the package index; set, the build runs offline
# from a wheelhouse mounted into it (PIP_NO_INDEX=1, PIP_FIND_LINKS=<dir>): scripts/image.sh builds that way.
ARG PIP_NO_INDEX
ARG PIP_FIND_LINKS
WORKDIR /src
COPY pyproject.toml README.md ./
COPY seccomp_operator ./seccomp_operator
RUN python -m pip wheel --wheel-dir /wheels .

# --- runtime: a venv holding only the wheels, libseccomp for the profile compiler, nothing to build with ----------
FROM ${PYTHON_IMAGE} AS runtime
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PATH=/opt/seccomp-operator/bin:$PATH
# pyseccomp loads libseccomp.so.2 with ctypes (syscall names and architectures are checked against it). Debian's
# apt depends on it, so bookworm bases already have it; installing only when missing keeps an offline build offline.
RUN dpkg-query --show --showformat='${Status}' libseccomp2 2>/dev/null | grep -q 'install ok installed' \
    || { apt-get update \
         && apt-get install --yes --no-install-recommends libseccomp2 \
         && rm -rf /var/lib/apt/lists/*; }
# The wheels are bind-mounted from the build stage, so they never become a layer of this image. The venv's own pip
# (from ensurepip, which every Python base has) installs them and is removed again: nothing to install with is left.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv /opt/seccomp-operator \
    && /opt/seccomp-operator/bin/python -m pip install --no-index --find-links=/wheels seccomp-operator \
    && /opt/seccomp-operator/bin/python -m pip uninstall --yes --quiet pip setuptools \
    && seccomp-operator --help >/dev/null
# Non-root by default (the controller); the agent's DaemonSet sets runAsUser 0 with every capability dropped. The
# uid gets a name: libraries ask the password database who they run as (kopf's peering identity calls
# getpass.getuser(), which raises for a uid without an entry, and the controller then never starts).
RUN echo 'seccomp-operator:x:65532:65532:seccomp-operator:/nonexistent:/usr/sbin/nologin' >>/etc/passwd \
    && echo 'seccomp-operator:x:65532:' >>/etc/group
USER 65532:65532
ENTRYPOINT ["seccomp-operator"]
CMD ["--help"]

LABEL org.opencontainers.image.title="seccomp-operator" \
      org.opencontainers.image.description="Validates SeccompProfiles and installs them atomically on every node" \
      org.opencontainers.image.licenses="Apache-2.0"
