"""docs/openapi.yaml is a valid OpenAPI 3.1 document, and a live server's answers to each documented
route match it: a documented status, and a body that fits the schema given for that status."""

import json
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "e2e"))
from parley_server import ParleyServer  # noqa: E402  (shared by the suites)

openapi_spec_validator = pytest.importorskip("openapi_spec_validator")
jsonschema = pytest.importorskip("jsonschema")

DOCUMENT = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())


def test_the_document_is_valid_openapi_3_1():
    openapi_spec_validator.validate(DOCUMENT)
    assert DOCUMENT["openapi"].startswith("3.1")


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
    request = urllib.request.Request(server.base_url + path, method=method.upper())
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, data=data, timeout=10) as response:
            code, payload = response.status, response.read()
    except urllib.error.HTTPError as error:
        code, payload = error.code, error.read()
    if status is not None:
        assert code == status, payload
    schema = schema_for(template, method, code)
    if schema is not None:
        # The schema sits beside the document's components, so that its $refs resolve.
        wrapper = {"components": DOCUMENT["components"], **schema}
        jsonschema.validate(json.loads(payload), wrapper)
    return code, payload


def test_a_live_server_answers_as_documented():
    with tempfile.TemporaryDirectory() as folder:
        server = ParleyServer(Path(folder) / "parley.sqlite").start()
        try:
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
        finally:
            server.stop()
