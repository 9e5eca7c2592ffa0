"""The optional monitoring objects: ServiceMonitors and the PrometheusRule (manifests/components/monitoring and the
chart's `monitoring.*` values).

The Prometheus Operator's CRDs are not installed in the test API server, so the objects are checked for what they
promise: each ServiceMonitor selects exactly the metrics Service of its component, whose port leads to the port the
component listens on; every alert expression parses as PromQL (promql-parser), names only metrics that
docs/monitoring.md lists (rendered from the code) with labels those metrics have, and its annotations use only
labels the expression keeps; and the webhook alerts select series that a real kube-apiserver reports when webhooks
of those names fail.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from seccomp_operator.api import STATE_FAILED, STATE_INSTALLED
from seccomp_operator.testing.controlplane import ControlPlane
from seccomp_operator.testing.net import free_port
from seccomp_operator.testing.simulation import wait_until

from .test_deploy import (
    BASE_OBJECTS,
    CERT_MANAGER_OBJECTS,
    CHART,
    COMPONENTS,
    NS,
    REPO,
    Doc,
    _normalised,
    dry_run,
    find,
    helm,
    helm_render,
    helm_template,
    keys,
    kustomize,
    operator_namespace,
)

__all__ = ["helm", "operator_namespace"]

RULE_FILE = COMPONENTS / "monitoring" / "prometheus-rule.yaml"
CHART_RULE_FILE = CHART / "files" / "prometheus-rule.yaml"
DOC = REPO / "docs" / "monitoring.md"
MONITORING_GROUP = "monitoring.coreos.com/"
MONITORING_OBJECTS = {
    ("ServiceMonitor", "seccomp-operator-controller"),
    ("ServiceMonitor", "seccomp-operator-agent"),
    ("PrometheusRule", "seccomp-operator"),
}
# Labels the Prometheus Operator puts on every series scraped through a ServiceMonitor.
TARGET_LABELS = {"job", "instance", "namespace", "service", "pod", "container", "endpoint"}
SEVERITIES = {"critical", "warning", "info"}
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


# --------------------------------------------------------------------------------------------------------------
# What docs/monitoring.md lists


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def documented_metrics() -> dict[str, dict[str, Any]]:
    """{series name: {labels, components}} from the reference (ours) and the table of metrics from elsewhere."""
    text = DOC.read_text()
    metrics: dict[str, dict[str, Any]] = {}
    for heading in ("Metrics reference", "Metrics from elsewhere"):
        for line in _section(text, heading).splitlines():
            if not line.startswith("| `"):
                continue
            cells = [c.strip() for c in line.strip("|").split("|")]
            name = cells[0].split("`")[1]
            labels = set(re.findall(r"`([a-z_]+)`", cells[2]))
            components = cells[3].split(" and ") if heading == "Metrics reference" else ["elsewhere"]
            entry = {"labels": labels, "components": components}
            metrics[name] = entry
            if "histogram" in line:
                for suffix in HISTOGRAM_SUFFIXES:
                    metrics[name + suffix] = {**entry, "labels": labels | ({"le"} if suffix == "_bucket" else set())}
    return metrics


def documented_alerts() -> dict[str, str]:
    rows = [line for line in _section(DOC.read_text(), "ServiceMonitors and alerts").splitlines()]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows if row.startswith("| `")]
    return {c[0].strip("`"): c[1] for c in cells}


# --------------------------------------------------------------------------------------------------------------
# PromQL


def _kind(node: Any) -> str:
    return type(node).__name__


def vector_selectors(expr: Any) -> list[Any]:
    found: list[Any] = []
    promql_parser.walk(expr, lambda node: found.append(node) if _kind(node) == "VectorSelector" else None)
    return found


class RuleContext:
    """What an expression may name: the documented metrics, the target labels per job, the values labels take."""

    def __init__(self, docs: list[Doc]) -> None:
        self.metrics = documented_metrics()
        self.jobs = scrape_jobs(docs)  # job -> (component, extra target labels)
        webhooks = find(docs, "ValidatingWebhookConfiguration", "seccomp-operator")["webhooks"]
        crd = yaml.safe_load((REPO / "crds" / "seccompprofiles.yaml").read_text())
        status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
        self.values = {
            "job": set(self.jobs),
            "name": {w["name"] for w in webhooks},
            "phase": set(status["properties"]["phase"]["enum"]),
            "state": {STATE_INSTALLED, STATE_FAILED},
        }

    def selector_labels(self, selector: Any) -> set[str]:
        name = selector.name
        assert name in self.metrics, f"{name} is not listed in {DOC.relative_to(REPO)}"
        available = self.metrics[name]["labels"] | TARGET_LABELS
        for matcher in selector.matchers.matchers:
            if matcher.name == "job" and matcher.value in self.jobs:
                component, extra = self.jobs[matcher.value]
                available |= extra
                components = self.metrics[name]["components"]
                assert name == "up" or component in components, f"{name} is not exported by the {component}"
        for matcher in selector.matchers.matchers:
            assert matcher.name in available, f"{name} has no label {matcher.name!r} (it has {sorted(available)})"
            self._check_value(name, matcher)
        return available

    def _check_value(self, metric: str, matcher: Any) -> None:
        """A value must be one the label can take: a metrics Service, a webhook, a phase, a report state."""
        known = self.values.get(matcher.name)
        if known is None or (metric == "up" and matcher.name != "job"):
            return
        op = str(matcher.op)
        if op == "MatchOp.Equal":
            assert matcher.value in known, f"{metric}{{{matcher.name}={matcher.value!r}}}: not one of {sorted(known)}"
        elif op == "MatchOp.Re":
            pattern = re.compile(matcher.value)
            assert any(pattern.fullmatch(v) for v in known), (
                f"{matcher.name}=~{matcher.value!r} matches none of {known}"
            )

    def output_labels(self, node: Any) -> set[str]:
        """The labels a result series of `node` carries (checking `by` and `on` lists on the way)."""
        kind = _kind(node)
        if kind == "VectorSelector":
            return self.selector_labels(node)
        if kind == "MatrixSelector":
            return self.output_labels(node.vector_selector)
        if kind == "ParenExpr":
            return self.output_labels(node.expr)
        if kind in ("NumberLiteral", "StringLiteral"):
            return set()
        if kind == "Call":
            function = node.func.name
            if function == "histogram_quantile":
                inner = self.output_labels(node.args[1])
                assert "le" in inner, "histogram_quantile needs the buckets' `le` kept"
                return inner - {"le"}
            if function == "absent":
                self.output_labels(node.args[0])
                return {
                    m.name
                    for s in vector_selectors(node.args[0])
                    for m in s.matchers.matchers
                    if str(m.op) == "MatchOp.Equal"
                }
            return self.output_labels(node.args[0])
        if kind == "AggregateExpr":
            inner = self.output_labels(node.expr)
            if node.modifier is None:
                return set()
            listed = set(node.modifier.labels)
            assert listed <= inner, f"aggregation by {sorted(listed - inner)}, which the series do not have"
            return listed if str(node.modifier.type) == "AggModifierType.By" else inner - listed
        if kind == "BinaryExpr":
            lhs, rhs = self.output_labels(node.lhs), self.output_labels(node.rhs)
            if _kind(node.rhs) == "NumberLiteral":
                return lhs
            if _kind(node.lhs) == "NumberLiteral":
                return rhs
            matching = node.modifier.matching if node.modifier is not None else None
            if matching is not None and str(matching.type) == "LabelModifierType.Include":  # on (...)
                on = set(matching.labels)
                assert on <= lhs & rhs, f"on({sorted(on)}): not on both sides"
            return lhs & rhs if str(node.op) == "or" else lhs
        raise AssertionError(f"no label rule for {kind} in this test; extend output_labels")


def scrape_jobs(docs: list[Doc]) -> dict[str, tuple[str, set[str]]]:
    """job label -> (component, labels the ServiceMonitor's relabelings add), from the rendered ServiceMonitors."""
    jobs = {}
    for monitor in (d for d in docs if d["kind"] == "ServiceMonitor"):
        selector = monitor["spec"]["selector"]["matchLabels"]
        for endpoint in monitor["spec"]["endpoints"]:
            service = metrics_service(docs, selector, endpoint["port"])
            extra = {r["targetLabel"] for r in endpoint.get("relabelings") or []}
            jobs[service["metadata"]["name"]] = (selector["app.kubernetes.io/component"], extra)
    return jobs


def metrics_service(docs: list[Doc], selector: dict[str, str], port: str) -> Doc:
    services = [
        d
        for d in docs
        if d["kind"] == "Service"
        and selector.items() <= (d["metadata"].get("labels") or {}).items()
        and any(p.get("name") == port for p in d["spec"]["ports"])
    ]
    assert len(services) == 1, f"port {port!r} of {selector}: {[s['metadata']['name'] for s in services]}"
    return services[0]


def rules(docs: list[Doc]) -> list[dict[str, Any]]:
    rule = find(docs, "PrometheusRule", "seccomp-operator")
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


# --------------------------------------------------------------------------------------------------------------
# Structural checks, for kustomize and Helm alike


def service_monitor_checks(docs: list[Doc]) -> None:
    for component in ("controller", "agent"):
        monitor = find(docs, "ServiceMonitor", f"seccomp-operator-{component}")
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["metadata"]["namespace"] == NS
        selector = monitor["spec"]["selector"]["matchLabels"]
        [endpoint] = monitor["spec"]["endpoints"]
        assert endpoint["path"] == "/metrics"
        assert DURATION.match(endpoint["interval"]), endpoint["interval"]
        service = metrics_service(docs, selector, endpoint["port"])
        assert service["metadata"]["name"] == f"seccomp-operator-{component}-metrics"
        # The Service's port leads to the container port the component really listens on (--health-addr).
        [port] = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
        workload = next(
            d
            for d in docs
            if d["kind"] in ("Deployment", "DaemonSet")
            and service["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
        )
        [container] = workload["spec"]["template"]["spec"]["containers"]
        [container_port] = [p for p in container["ports"] if p["name"] == port["targetPort"]]
        [health_addr] = [a for a in container["args"] if a.startswith("--health-addr=")]
        assert health_addr.rsplit(":", 1)[1] == str(container_port["containerPort"])
        for relabeling in endpoint.get("relabelings") or []:
            assert all(s.startswith("__meta_kubernetes_") for s in relabeling["sourceLabels"]), relabeling
            assert re.fullmatch(r"[a-z_][a-z0-9_]*", relabeling["targetLabel"]), relabeling
    agent = find(docs, "ServiceMonitor", "seccomp-operator-agent")["spec"]["endpoints"][0]
    assert {"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node"} in agent["relabelings"]


def prometheus_rule_checks(docs: list[Doc]) -> None:
    rule = find(docs, "PrometheusRule", "seccomp-operator")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["namespace"] == NS
    groups = [g["name"] for g in rule["spec"]["groups"]]
    assert len(groups) == len(set(groups))
    context = RuleContext(docs)
    alerts = rules(docs)
    assert len({a["alert"] for a in alerts}) == len(alerts)
    for alert in alerts:
        name = alert["alert"]
        assert re.fullmatch(r"SeccompOperator[A-Z][A-Za-z]+", name), name
        assert set(alert) == {"alert", "expr", "for", "labels", "annotations"}, name
        assert DURATION.match(alert["for"]), (name, alert["for"])
        assert alert["labels"]["severity"] in SEVERITIES, name
        assert alert["annotations"]["summary"].strip() and alert["annotations"]["description"].strip(), name
        try:
            expr = promql_parser.parse(alert["expr"])
        except ValueError as exc:
            raise AssertionError(f"{name}: the expression does not parse: {exc}") from None
        try:
            kept = context.output_labels(expr)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
        for text in alert["annotations"].values():
            used = set(re.findall(r"\$labels\.([a-zA-Z_]+)", text))
            assert used <= kept, f"{name}: annotations use {sorted(used - kept)}, which {alert['expr']!r} drops"
    # Every alert is explained in the docs with the severity it has.
    assert documented_alerts() == {a["alert"]: a["labels"]["severity"] for a in alerts}


# --------------------------------------------------------------------------------------------------------------
# Tests


def test_chart_rule_file_is_a_copy_of_the_components() -> None:
    assert CHART_RULE_FILE.read_bytes() == RULE_FILE.read_bytes(), (
        f"run: cp {RULE_FILE.relative_to(REPO)} {CHART_RULE_FILE.relative_to(REPO)}"
    )


@pytest.mark.parametrize("components", [("monitoring",), ("cert-manager", "monitoring")], ids="+".join)
def test_kustomize_monitoring_component(
    control_plane: ControlPlane, operator_namespace: str, tmp_path: Path, components: tuple[str, ...]
) -> None:
    docs = kustomize(control_plane, tmp_path, *components)
    expected = BASE_OBJECTS | MONITORING_OBJECTS | (CERT_MANAGER_OBJECTS if "cert-manager" in components else set())
    assert keys(docs) == expected
    service_monitor_checks(docs)
    prometheus_rule_checks(docs)
    # Everything else still applies; the monitoring kinds need the Prometheus Operator's CRDs, absent here.
    dry_run(control_plane, [d for d in docs if not d["apiVersion"].startswith(MONITORING_GROUP)])


@pytest.mark.timeout(1500)  # the first use may build helm
def test_helm_monitoring_values_render_what_the_component_renders(
    control_plane: ControlPlane, helm: str, tmp_path: Path
) -> None:
    chart = helm_render(helm, "monitoring.serviceMonitor.enabled=true", "monitoring.prometheusRule.enabled=true")
    base = kustomize(control_plane, tmp_path, "cert-manager", "monitoring")
    ours = _normalised(chart)
    theirs = _normalised([d for d in base if d["kind"] != "Namespace"])
    assert set(ours) == set(theirs)
    for key in MONITORING_OBJECTS:
        assert ours[key] == theirs[key], f"{key[0]}/{key[1]} differs between the chart and the component"
    service_monitor_checks(chart)
    prometheus_rule_checks(chart)


@pytest.mark.timeout(1500)
def test_helm_monitoring_selector_labels_and_intervals(helm: str) -> None:
    docs = helm_render(
        helm,
        "monitoring.serviceMonitor.enabled=true",
        "monitoring.prometheusRule.enabled=true",
        "monitoring.serviceMonitor.labels.release=kube-prometheus-stack",
        "monitoring.prometheusRule.labels.role=alert-rules",
        "monitoring.serviceMonitor.agentInterval=2m",
    )
    for component in ("controller", "agent"):
        monitor = find(docs, "ServiceMonitor", f"seccomp-operator-{component}")
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert find(docs, "ServiceMonitor", "seccomp-operator-agent")["spec"]["endpoints"][0]["interval"] == "2m"
    assert find(docs, "PrometheusRule", "seccomp-operator")["metadata"]["labels"]["role"] == "alert-rules"
    # Off by default: a cluster without the Prometheus Operator's CRDs must install cleanly.
    assert not {k for k in keys(helm_render(helm)) if k in MONITORING_OBJECTS}
    refused = helm_template(helm, "monitoring.serviceMonitor.agentInterval=soon", check=False)
    assert refused.returncode != 0 and "/monitoring/serviceMonitor/agentInterval" in refused.stderr


def test_webhook_alerts_select_what_the_api_server_reports(control_plane: ControlPlane, namespace: str) -> None:
    """Webhooks named like ours, scoped to ConfigMaps of this test and pointing at a port where nothing listens, fail
    the way ours would when the controller is gone: the alerts' selectors must match the series this produces."""
    docs = [yaml.safe_load(RULE_FILE.read_text())]
    names = ("validate-profile.seccomp-operator.io", "warn-pod-profile.seccomp-operator.io")
    url = f"https://127.0.0.1:{free_port()}/nothing-listens-here"

    def webhook(name: str, policy: str) -> dict[str, Any]:
        return {
            "name": name,
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": policy,
            "timeoutSeconds": 2,
            "clientConfig": {"url": url},
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            "objectSelector": {"matchLabels": {"monitoring-probe": name.split(".", maxsplit=1)[0]}},
            "rules": [
                {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["configmaps"]}
            ],
        }

    config = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": f"monitoring-probe-{namespace}"},
        "webhooks": [webhook(names[0], "Fail"), webhook(names[1], "Ignore")],
    }
    control_plane.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(config))
    try:

        def create(probe: str) -> Any:
            meta = {"generateName": f"{probe}-", "namespace": namespace, "labels": {"monitoring-probe": probe}}
            body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta})
            return control_plane.kubectl("create", "-f", "-", input=body, check=False)

        # The configuration reaches the API server's admission chain through an informer: wait until it bites.
        wait_until(
            lambda: "failed calling webhook" in create("validate-profile").stderr,
            timeout=60,
            what="the failing webhook to refuse",
        )
        assert create("warn-pod-profile").returncode == 0  # fails open
        series = api_server_series(control_plane)
    finally:
        control_plane.kubectl("delete", "validatingwebhookconfiguration", config["metadata"]["name"])
    external = {n: e for n, e in documented_metrics().items() if n.startswith("apiserver_")}
    checked = 0
    for alert in rules(docs):
        for selector in vector_selectors(promql_parser.parse(alert["expr"])):
            if not selector.name.startswith("apiserver_"):
                continue
            matching = [labels for name, labels in series if name == selector.name and matches(selector, labels)]
            assert matching, f"{alert['alert']}: no series of the API server matches {selector}"
            documented = external[selector.name]["labels"]
            assert all(set(labels) == documented for labels in matching), (selector.name, matching, documented)
            checked += 1
    assert checked >= 3


def api_server_series(cp: ControlPlane) -> list[tuple[str, dict[str, str]]]:
    """(series name as exposed, labels) of every sample. Read from the text itself: prometheus_client's parser
    renames counters to `*_total`, which the API server's are not."""
    series = []
    for line in cp.apiserver_metrics().splitlines():
        found = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ", line)
        if found:
            labels = re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', found.group(2) or "")
            series.append((found.group(1), dict(labels)))
    return series


def matches(selector: Any, labels: dict[str, str]) -> bool:
    for matcher in selector.matchers.matchers:
        value = labels.get(matcher.name, "")
        op = str(matcher.op)
        if op == "MatchOp.Equal" and value != matcher.value:
            return False
        if op == "MatchOp.NotEqual" and value == matcher.value:
            return False
        if op.startswith("MatchOp.Re") and not re.fullmatch(matcher.value, value):
            return False
        if op.startswith("MatchOp.NotRe") and re.fullmatch(matcher.value, value):
            return False
    return True
