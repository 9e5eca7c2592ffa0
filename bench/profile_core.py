"""Benchmark the profile core: validate + compile + render of Docker's default profile for four architectures.

Run: `.venv/bin/python -m bench.profile_core [--runs N]`. Pins itself to one CPU, imports the Docker default profile
from the corpus (`<repo>/../shared/corpus/seccomp`, or $SECCOMP_CORPUS), restricts it to x86_64, x86, aarch64 and
arm, then times `validate_profile` (static checks and the libseccomp compile of every architecture, BPF exported to
a memfd) plus `render`, per profile. Writes bench/results/profile_core.json and prints one line. Target: median under
20 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from bench.stats import percentile
from seccomp_operator.profile import ImportOptions, import_document, parse_documents, render, validate_profile
from seccomp_operator.profile.syscalls import libseccomp_version

REPO = Path(__file__).resolve().parent.parent
ARCHES = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
TARGET_MEDIAN_MS = 20.0


def corpus_dir() -> Path:
    return Path(os.environ.get("SECCOMP_CORPUS") or REPO.parent / "shared" / "corpus" / "seccomp")


def docker_default_spec() -> dict[str, object]:
    path = corpus_dir() / "docker-default.json"
    document = parse_documents(path.read_text(), filename=str(path))[0]
    imported = import_document(
        document.data,
        kind=document.kind,
        name="docker-default",
        namespace="bench",
        options=ImportOptions(node_arches=("SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64")),
    )
    if imported.manifest is None:
        raise SystemExit(f"importing {path} failed: {[f.message for f in imported.findings if f.is_error]}")
    spec = dict(imported.manifest["spec"])
    spec["architectures"] = list(ARCHES)
    return spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_core", description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "profile_core.json")
    args = parser.parse_args(argv)

    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})  # single core, so the numbers do not depend on what else is scheduled where
    spec = docker_default_spec()
    names = sum(len(rule["names"]) for rule in spec["syscalls"])

    def once() -> float:
        start = time.perf_counter()
        validation = validate_profile(spec)
        assert validation.profile is not None, validation.errors
        render(validation.profile)
        return (time.perf_counter() - start) * 1000

    cold = once()  # first run fills the libseccomp name-resolution caches
    samples = [once() for _ in range(args.runs)]
    result = {
        "benchmark": "profile_core",
        "profile": "docker-default (imported), architectures x86_64, x86, aarch64, arm",
        "syscall_names": names,
        "runs": args.runs,
        "median_ms": round(statistics.median(samples), 3),
        "p95_ms": round(percentile(samples, 0.95), 3),
        "min_ms": round(min(samples), 3),
        "max_ms": round(max(samples), 3),
        "first_run_ms": round(cold, 3),
        "target_median_ms": TARGET_MEDIAN_MS,
        "cpu": cpu,
        # other work on the machine slows every run; the numbers are only comparable at a similar load
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "libseccomp": libseccomp_version(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"profile_core: validate+compile+render docker-default x4 arches: median {result['median_ms']} ms, "
        f"p95 {result['p95_ms']} ms over {args.runs} runs (first {result['first_run_ms']} ms; target median < "
        f"{TARGET_MEDIAN_MS} ms) -> {args.output}"
    )
    return 0 if result["median_ms"] < TARGET_MEDIAN_MS else 1


if __name__ == "__main__":
    sys.exit(main())
