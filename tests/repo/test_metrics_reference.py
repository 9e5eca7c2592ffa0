"""docs/monitoring.md lists every metric the controller and the agent export, exactly as the code registers them.

The table between the markers is rendered from the components' own registries (name, type, labels, help text), so a
metric added, renamed or relabelled without the docs fails here. To refresh it after such a change:

    .venv/bin/python tests/repo/test_metrics_reference.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "monitoring.md"
BEGIN = "<!-- metrics-reference: begin (rendered by tests/repo/test_metrics_reference.py; do not edit by hand) -->"
END = "<!-- metrics-reference: end -->"
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def _component_metrics() -> dict[str, tuple[CollectorRegistry, object]]:
    from seccomp_operator.agent.metrics import AgentMetrics
    from seccomp_operator.controller.metrics import ControllerMetrics

    controller, agent = ControllerMetrics(), AgentMetrics()
    return {"controller": (controller.registry, controller), "agent": (agent.registry, agent)}


def exported_metrics() -> dict[str, dict[str, object]]:
    """{exposed name: {type, labels, help, components}} for everything both components' /metrics serve."""
    found: dict[str, dict[str, object]] = {}
    for component, (registry, holder) in _component_metrics().items():
        # A labelled metric with no child yet has no samples; its label names are on the metric object.
        declared = {
            m._name: tuple(m._labelnames)  # prometheus_client has no public accessor for either
            for m in vars(holder).values()
            if isinstance(m, MetricWrapperBase)
        }
        for family in registry.collect():
            labels = declared.get(family.name)
            if labels is None:
                labels = tuple(sorted({k for s in family.samples for k in s.labels if k not in ("le", "quantile")}))
            name = family.name + ("_total" if family.type == "counter" else "")
            entry = found.setdefault(
                name, {"type": family.type, "labels": labels, "help": family.documentation, "components": []}
            )
            assert (entry["type"], entry["labels"], entry["help"]) == (family.type, labels, family.documentation), (
                f"{name} differs between the components"
            )
            entry["components"].append(component)  # type: ignore[attr-defined]
    return found


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_table() -> str:
    rows = ["| metric | type | labels | exported by | meaning |", "|---|---|---|---|---|"]
    metrics = exported_metrics()

    def order(name: str) -> tuple[int, str]:
        components = metrics[name]["components"]
        return (0 if len(components) > 1 else 1 if components == ["controller"] else 2, name)  # type: ignore[arg-type]

    for name in sorted(metrics, key=order):
        entry = metrics[name]
        shown = f"`{name}`" + (" (`_bucket`, `_sum`, `_count`)" if entry["type"] == "histogram" else "")
        labels = ", ".join(f"`{label}`" for label in entry["labels"]) or "none"  # type: ignore[attr-defined]
        components = " and ".join(entry["components"])  # type: ignore[arg-type]
        rows.append(f"| {shown} | {entry['type']} | {labels} | {components} | {_cell(str(entry['help']))} |")
    return "\n".join(rows)


def documented_block(text: str) -> str:
    assert BEGIN in text and END in text, f"{DOC} lacks the metrics-reference markers"
    return text[text.index(BEGIN) + len(BEGIN) : text.index(END)].strip()


def reference_names(text: str) -> set[str]:
    """Metric names in the rendered table, with a histogram's series names."""
    names = set()
    for line in documented_block(text).splitlines()[2:]:
        name = line.split("`")[1]
        names.add(name)
        if "| histogram |" in line:
            names.update(name + suffix for suffix in HISTOGRAM_SUFFIXES)
    return names


def test_metrics_reference_matches_the_code() -> None:
    expected = render_table()
    documented = documented_block(DOC.read_text())
    assert documented == expected, (
        f"{DOC.relative_to(REPO)} is out of date with the metrics the code registers; "
        "run: .venv/bin/python tests/repo/test_metrics_reference.py"
    )


def test_every_metric_is_named_for_its_component() -> None:
    """Names say whose they are (`seccomp_controller_`, `seccomp_agent_`, `seccomp_operator_` for both), apart from
    the client library's standard process and platform metrics."""
    for name, entry in exported_metrics().items():
        components = entry["components"]
        if name.startswith(("process_", "python_")):
            assert components == ["controller", "agent"], name
        elif components == ["controller", "agent"]:
            assert name.startswith("seccomp_operator_"), name
        else:
            assert name.startswith(f"seccomp_{components[0]}_"), name  # type: ignore[index]


def main() -> int:
    text = DOC.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOC.write_text(text[:start] + "\n" + render_table() + "\n" + text[end:])
    print(f"rendered the metrics reference into {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
