"""What both long-running components report about themselves: the build (`--version`, `seccomp_operator_build_info`)
and the process and platform metrics every Prometheus client offers. docs/metrics.md lists every metric."""

from __future__ import annotations

import ctypes
import functools
import platform
from importlib import metadata

from prometheus_client import CollectorRegistry, Gauge, PlatformCollector, ProcessCollector, disable_created_metrics

BUILD_INFO = "seccomp_operator_build_info"


@functools.cache
def version() -> str:
    try:
        return metadata.version("seccomp-operator")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


@functools.cache
def libseccomp_version() -> str:
    """seccomp_version() of the libseccomp that pyseccomp loaded. Asked here directly: importing the profile core for
    it would cost the agent, which never compiles a filter, about 2.7 MiB of its 50 MiB budget."""
    import pyseccomp

    function = pyseccomp._libseccomp["seccomp_version"]  # a fresh pointer: pyseccomp's own prototypes stay intact
    function.argtypes = ()
    function.restype = ctypes.POINTER(_Version)
    found = function().contents
    return f"{found.major}.{found.minor}.{found.micro}"


@functools.cache
def build_labels() -> dict[str, str]:
    return {
        "version": version(),
        "python_version": platform.python_version(),
        "libseccomp_version": libseccomp_version(),
    }


def version_line() -> str:
    labels = build_labels()
    return (
        f"seccomp-operator {labels['version']} "
        f"(Python {labels['python_version']}, libseccomp {labels['libseccomp_version']})"
    )


def register_process_metrics(registry: CollectorRegistry) -> None:
    """Adds build_info, the process collector (CPU, memory, file descriptors, start time) and the platform collector
    (`python_info`) to a component's registry."""
    # No `*_created` series beside every counter and histogram: they double the series count and no alert or
    # dashboard here reads them.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    labels = build_labels()  # cached: the simulation builds hundreds of agents' registries in one process
    build_info = Gauge(
        BUILD_INFO,
        "Always 1; the labels name the seccomp-operator version and the Python and libseccomp it runs with.",
        list(labels),
        registry=registry,
    )
    build_info.labels(**labels).set(1)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
