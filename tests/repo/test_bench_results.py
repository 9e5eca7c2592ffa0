"""The README's figures are the committed results: every table between `<!-- bench:... -->` markers in README.md and
bench/README.md is what `python -m bench.render` makes of bench/results, and the scale and peer results come from
one full `make bench` invocation (never assembled from several)."""

from __future__ import annotations

import json

from bench import render
from bench.util import RESULTS


def test_readme_tables_are_rendered_from_the_committed_results() -> None:
    differing = render.render_docs(RESULTS, check=True)
    assert not differing, f"{differing} differ from bench/results; run `.venv/bin/python -m bench.render`"


def test_every_block_in_the_docs_has_a_renderer() -> None:
    names = {m.group("name") for doc in render.DOCS for m in render.BLOCK.finditer(doc.read_text())}
    assert names, "README.md and bench/README.md render their tables from the results"
    assert names <= set(render.RENDERERS), names - set(render.RENDERERS)


def test_scale_and_peer_results_come_from_one_full_invocation() -> None:
    present = [name for name in ("scale.json", "peer.json") if (RESULTS / name).exists()]
    if not present:
        return  # nothing committed yet: the README blocks say so (checked above)
    stamps = [json.loads((RESULTS / name).read_text()).get("invocation") or {} for name in present]
    assert len(present) == 2, f"only {present} in bench/results: both come from the same `make bench`"
    assert all(s.get("full") for s in stamps), "bench/results holds a partial run"
    assert len({s.get("id") for s in stamps}) == 1, f"results of different invocations: {stamps}"


def test_a_stray_block_body_is_noticed() -> None:
    text = "<!-- bench:reliability -->\n| made up | 1 |\n<!-- /bench:reliability -->\n"
    assert render.rendered(text, RESULTS) != text


def test_every_benchmark_module_imports() -> None:
    """`make bench` is not part of `make test`; a renamed helper it imports must still fail a test."""
    import importlib
    import pkgutil

    import bench

    for module in pkgutil.iter_modules(bench.__path__):
        if module.name != "__main__":
            importlib.import_module(f"bench.{module.name}")
