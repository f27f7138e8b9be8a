"""The Grafana dashboard and the example alert rules in deploy/ name only metrics that a running server
serves at /metrics, so neither goes blank after a rename."""

import json
import re
import sys
import tempfile
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "e2e"))
from parley_server import started_servers  # noqa: E402  (shared by the suites)

METRIC = re.compile(r"\bparley_[a-z0-9_]+")
HISTOGRAM_SUFFIX = re.compile(r"_(bucket|sum|count)$")


def served_metrics():
    """The text a fresh server serves at /metrics."""
    with tempfile.TemporaryDirectory() as folder, started_servers(folder) as start:
        with urllib.request.urlopen(f"{start().base_url}/metrics", timeout=10) as response:
            return response.read().decode()


def served_metric_names():
    text = served_metrics()
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            names.add(line.split()[2])
    return names


def referenced(expressions):
    return {HISTOGRAM_SUFFIX.sub("", name) for expression in expressions for name in METRIC.findall(expression)}


def dashboard_expressions():
    dashboard = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def alert_expressions():
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus-alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def test_dashboard_and_alerts_name_only_served_metrics():
    served = served_metric_names()
    dashboard = referenced(dashboard_expressions())
    alerts = referenced(alert_expressions())
    assert dashboard, "the dashboard names no metric"
    assert alerts, "the alert rules name no metric"
    assert dashboard - served == set(), f"the dashboard names metrics /metrics lacks: {sorted(dashboard - served)}"
    assert alerts - served == set(), f"the alert rules name metrics /metrics lacks: {sorted(alerts - served)}"


def test_every_alert_has_a_severity_and_summary():
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus-alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]


def test_the_dashboard_charts_each_subject_and_storage_health_has_an_alert():
    dashboard = referenced(dashboard_expressions())
    subjects = {
        "connections": "parley_connections",
        "deliveries": "parley_deliveries_total",
        "commit latency": "parley_storage_commit_seconds",
        "slow consumers": "parley_slow_consumers_closed_total",
        "refusals by reason": "parley_frames_refused_total",
        "storage health": "parley_storage_healthy",
    }
    for subject, metric in subjects.items():
        assert metric in dashboard, f"the dashboard does not chart {subject} ({metric})"
    assert "parley_storage_healthy" in referenced(alert_expressions())


def test_storage_health_is_served_as_1_while_storage_takes_writes():
    text = served_metrics()
    assert "# TYPE parley_storage_healthy gauge" in text
    assert re.search(r"^parley_storage_healthy 1(\.0)?$", text, re.MULTILINE), text
