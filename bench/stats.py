"""Summary statistics shared by the benchmarks."""

from __future__ import annotations


def percentile(samples: list[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` 0.5 is the median); NaN for no samples."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]
