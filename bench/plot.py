"""results/convergence.png: seccomp-operator's convergence against N (with the floor), and the side-by-side run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.tables import OURS, PEER


def plot(scale: dict[str, Any], peer: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(scale.get("summary") or []) + list(scale.get("large_summary") or [])
    pairs = [r for r in peer.get("summary") or [] if r.get(OURS) and r.get(PEER)]
    fig, axes = plt.subplots(1, 2 if pairs else 1, figsize=(13 if pairs else 7, 4.8), squeeze=False)
    ax = axes[0][0]
    for p in sorted({r["profiles"] for r in rows}):
        line = sorted((r for r in rows if r["profiles"] == p), key=lambda r: r["nodes"])
        xs = [r["nodes"] for r in line]
        ax.plot(xs, [r["apply"]["files_median_s"] for r in line], marker="o", label=f"P={p}: files on every node")
        ax.plot(xs, [r["apply"]["status_median_s"] for r in line], marker="s", ls="--", label=f"P={p}: Ready")
        ax.plot(xs, [r["apply"]["floor_s"] for r in line], marker=".", ls=":", label=f"P={p}: floor (watch clients)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("simulated nodes N")
    ax.set_ylabel("seconds from apply (median)")
    ax.set_title("seccomp-operator: apply of P profiles")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    if pairs:
        ax = axes[0][1]
        labels = [f"{r['nodes']}x{r['profiles']}" for r in pairs]
        width = 0.2
        series = [
            (f"{OURS}: files", OURS, "files_median_s"),
            (f"{PEER}: files", PEER, "files_median_s"),
            (f"{OURS}: status", OURS, "status_median_s"),
            (f"{PEER}: status", PEER, "status_median_s"),
        ]
        for i, (label, system, key) in enumerate(series):
            values = [r[system]["apply"][key] or 0.0 for r in pairs]
            ax.bar([x + (i - 1.5) * width for x in range(len(pairs))], values, width, label=label)
        ax.set_xticks(range(len(pairs)), labels)
        ax.set_xlabel("nodes x profiles")
        ax.set_ylabel("seconds from apply (median)")
        ax.set_yscale("log")
        ax.set_title("apply, side by side on the same API server")
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
