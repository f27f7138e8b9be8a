"""The OpenAPI document (the file Sources/ParleyServer/Public/api/openapi.json, served at
GET /api/openapi.json) is a valid OpenAPI 3.1 document, the server serves exactly that file, and a live
server's answers match it: a few requests checked by hand, then schemathesis for a bounded time."""

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "e2e"))
from parley_server import ParleyServer  # noqa: E402  (shared by the suites)

openapi_spec_validator = pytest.importorskip("openapi_spec_validator")
jsonschema = pytest.importorskip("jsonschema")

SOURCE = ROOT / "Sources" / "ParleyServer" / "Public" / "api" / "openapi.json"
DOCUMENT = json.loads(SOURCE.read_text())
METHODS = ("get", "post", "put", "patch", "delete")

# The schemathesis run's bounds: examples per operation and phase, and the whole run's time.
MAX_EXAMPLES = 40
MAX_SECONDS = 30


@pytest.fixture(scope="module")
def server():
    with tempfile.TemporaryDirectory() as folder:
        # No HTTP rate limit: schemathesis posts far more than 30 requests in a burst.
        running = ParleyServer(Path(folder) / "parley.sqlite", extra_args=["--http-rate-per-second", "0"]).start()
        try:
            yield running
        finally:
            running.stop()


def request(server, method, path, body=None):
    """(status, headers, body) of one request."""
    outgoing = urllib.request.Request(server.base_url + path, method=method.upper())
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        outgoing.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(outgoing, data=data, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_the_document_is_valid_openapi_3_1():
    openapi_spec_validator.validate(DOCUMENT)
    assert DOCUMENT["openapi"].startswith("3.1")


def test_every_route_the_server_registers_is_documented_and_no_other():
    """Routes as the sources register them (`router.get("/path")` and the like), so that a route that
    lands without its description, or a description without its route, fails here."""
    registered = set()
    for source in (ROOT / "Sources" / "ParleyServer").rglob("*.swift"):
        for method, path in re.findall(r'router\.(get|post|put|patch|delete)\(\s*"([^"]+)"', source.read_text()):
            registered.add((method, path))
    # The document itself is a file of the web UI's folder, served by its file middleware.
    registered.add(("get", "/api/openapi.json"))
    documented = {(method, path) for path, item in DOCUMENT["paths"].items() for method in METHODS if method in item}
    assert registered - documented == set(), "registered but not in the document"
    assert documented - registered == set(), "in the document but not registered"


def test_the_server_serves_the_file_as_json(server):
    status, headers, body = request(server, "get", "/api/openapi.json")
    assert status == 200
    assert headers["Content-Type"].split(";")[0] == "application/json"
    assert headers["Cache-Control"] == "no-cache" and headers["ETag"]
    assert body == SOURCE.read_bytes()


def deref(reference):
    node = DOCUMENT
    for part in reference.removeprefix("#/").split("/"):
        node = node[part]
    return node


def schema_for(path, method, status):
    operation = DOCUMENT["paths"][path][method]
    response = operation["responses"].get(str(status))
    assert response is not None, f"{method.upper()} {path} answered {status}, which the document does not list"
    if "$ref" in response:
        response = deref(response["$ref"])
    content = response.get("content", {})
    return content.get("application/json", {}).get("schema")


def check(server, method, path, template, body=None, status=None):
    code, _, payload = request(server, method, path, body)
    if status is not None:
        assert code == status, payload
    schema = schema_for(template, method, code)
    if schema is not None:
        # The schema sits beside the document's components, so that its $refs resolve.
        wrapper = {"components": DOCUMENT["components"], **schema}
        jsonschema.validate(json.loads(payload), wrapper)
    return code, payload


def test_a_live_server_answers_as_documented(server):
    _, created = check(server, "post", "/api/rooms", "/api/rooms", body={"name": "Spec"}, status=201)
    code = json.loads(created)["code"]
    room = f"/api/rooms/{code}"
    check(server, "get", room, "/api/rooms/{code}", status=200)
    messages = f"{room}/messages"
    check(server, "post", messages, "/api/rooms/{code}/messages", body={"nick": "ann", "text": "hi", "client_id": "c1"}, status=201)
    check(server, "post", messages, "/api/rooms/{code}/messages", body={"nick": "ann", "text": "hi", "client_id": "c1"}, status=200)
    check(server, "post", messages, "/api/rooms/{code}/messages", body={"nick": "ann", "text": "other", "client_id": "c1"}, status=409)
    check(server, "post", messages, "/api/rooms/{code}/messages", body={"nick": "ann", "text": " "}, status=400)
    check(server, "get", messages + "?limit=10", "/api/rooms/{code}/messages", status=200)
    check(server, "get", messages + "?limit=0", "/api/rooms/{code}/messages", status=400)
    check(server, "get", "/api/rooms/nobody-here", "/api/rooms/{code}", status=404)
    check(server, "get", "/api/rooms/bad%20code", "/api/rooms/{code}", status=400)
    check(server, "get", "/healthz", "/healthz", status=200)
    check(server, "get", "/metrics", "/metrics", status=200)
    check(server, "get", "/", "/", status=200)
    check(server, "get", f"/r/{code}", "/r/{code}", status=200)
    check(server, "get", f"/ws?room={code}", "/ws", status=400)
    check(server, "get", "/api/openapi.json", "/api/openapi.json", status=200)


def test_every_documented_path_refuses_other_methods_with_allow(server):
    for template, item in DOCUMENT["paths"].items():
        path = template.replace("{code}", "some-room")
        documented = [method for method in METHODS if method in item]
        for method in METHODS:
            if method in documented:
                continue
            status, headers, payload = request(server, method, path, body={} if method != "get" else None)
            assert status == 405, f"{method.upper()} {path}: {status} {payload!r}"
            assert json.loads(payload)["error"]["code"] == "bad_request"
            assert headers["Allow"] == ", ".join(m.upper() for m in documented), f"{method.upper()} {path}"


def test_schemathesis_finds_no_server_error_and_no_answer_off_the_document(server):
    """Generated requests (valid and invalid) against every operation; each answer must be a documented
    status with the documented content type, headers and body schema, and none a 5xx."""
    st = shutil.which("st") or shutil.which("schemathesis")
    if st is None:
        pytest.skip("schemathesis is not installed (scripts/install-test-deps installs it)")
    checks = "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance"
    command = [
        st, "--no-color", "run", f"{server.base_url}/api/openapi.json",
        "--checks", checks,
        "--max-examples", str(MAX_EXAMPLES),
        "--max-time", str(MAX_SECONDS),
        "--request-timeout", "5",
        "--workers", "1",
    ]
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        # Its reports and caches go to a scratch folder, not the checkout.
        result = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=MAX_SECONDS + 45)
    elapsed = time.monotonic() - started
    counted = re.search(r"(\d+) generated", result.stdout)
    print(f"schemathesis: {counted.group(1) if counted else '?'} requests in {elapsed:.0f} s")
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:] + "\nserver log:\n" + "\n".join(server.log[-30:])
