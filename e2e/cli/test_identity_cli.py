"""`parley chat --token` (contract §13): a script chats under its token's verified nick, and an expired
token is said plainly."""

import base64
import hashlib
import hmac
import json
import os
import time
import urllib.request

from conftest import run_parley

SECRET = "an-e2e-secret-of-at-least-32-bytes!!"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_token(claims, secret=SECRET):
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


def test_chat_with_a_token_posts_verified_under_the_tokens_nick(make_server):
    server = make_server("--auth-secret", SECRET)
    token = hs256_token({"sub": "user-7", "nick": "Grace", "exp": int(time.time()) + 600})
    result = run_parley("chat", server.ws_url, "--room", "signed", "--nick", "ignored", "--token", token,
                        input_text="hello from a script\n")
    assert result.returncode == 0, result.stderr
    with urllib.request.urlopen(f"{server.http_url}/api/rooms/signed/messages") as reply:
        messages = json.load(reply)["messages"]
    assert [(m["nick"], m["text"], m.get("verified")) for m in messages] == [("Grace", "hello from a script", True)]

    # PARLEY_TOKEN does the same.
    env = dict(os.environ, PARLEY_TOKEN=token)
    result = run_parley("chat", server.ws_url, "--room", "signed", input_text="again\n", env=env)
    assert result.returncode == 0, result.stderr


def test_an_upload_under_auth_required_carries_the_token(make_server, tmp_path):
    server = make_server("--auth-secret", SECRET, "--auth", "required")
    token = hs256_token({"sub": "user-8", "nick": "Ada", "exp": int(time.time()) + 600})
    picture = tmp_path / "plan.png"
    picture.write_bytes(bytes(range(256)) * 8)
    result = run_parley("chat", server.ws_url, "--room", "uploads", "--token", token,
                        input_text=f"/upload \"{picture}\" the plan\n")
    assert result.returncode == 0, result.stderr
    assert "upload failed" not in result.stderr
    with urllib.request.urlopen(f"{server.http_url}/api/rooms/uploads/messages") as reply:
        messages = json.load(reply)["messages"]
    assert [(m["nick"], m["text"], m.get("verified"), [a["name"] for a in m.get("attachments", [])]) for m in messages] == \
        [("Ada", "the plan", True, ["plan.png"])]


def test_create_room_under_auth_required_takes_a_token_or_the_admin_token(make_server):
    server = make_server("--auth-secret", SECRET, "--auth", "required", "--admin-token", "operator-secret-0123456789")
    refused = run_parley("create-room", server.http_url)
    assert refused.returncode == 77, refused.stderr
    assert "token" in refused.stderr
    token = hs256_token({"sub": "user-9", "exp": int(time.time()) + 600})
    for credential in (token, "operator-secret-0123456789"):
        created = run_parley("create-room", server.http_url, "--token", credential)
        assert created.returncode == 0, created.stderr
        assert created.stdout.startswith("code ")
    env = dict(os.environ, PARLEY_TOKEN=token)
    assert run_parley("create-room", server.http_url, env=env).returncode == 0


def test_a_refused_token_is_said_plainly(make_server):
    server = make_server("--auth-secret", SECRET)
    expired = hs256_token({"sub": "user-7", "exp": int(time.time()) - 60})
    result = run_parley("chat", server.ws_url, "--room", "signed", "--token", expired, input_text="x\n")
    assert result.returncode == 77
    assert "expired" in result.stderr


def test_rs256_es256_and_eddsa_keys_from_one_pem_file(make_server, tmp_path):
    """Keys generated here with `cryptography`, tokens signed here: an implementation other than the
    server's checks the server's verification."""
    import websocket
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    other = ec.generate_private_key(ec.SECP256R1())
    pem = b"".join(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
                   for key in (rsa_key, ec_key, ed_key))
    path = tmp_path / "keys.pem"
    path.write_bytes(pem)

    def es256(key, data):
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    signers = {
        "RS256": lambda data: rsa_key.sign(data, padding.PKCS1v15(), hashes.SHA256()),
        "ES256": lambda data: es256(ec_key, data),
        "EdDSA": lambda data: ed_key.sign(data),
    }

    def token(alg, sign, sub):
        header = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
        payload = b64url(json.dumps({"sub": sub, "exp": int(time.time()) + 600, "rooms": ["pem"]}).encode())
        return f"{header}.{payload}.{b64url(sign(f'{header}.{payload}'.encode()))}"

    server = make_server("--auth-public-key", str(path), "--auth", "required")
    for alg, sign in signers.items():
        socket = websocket.create_connection(f"{server.ws_url}/ws?room=pem&auth={token(alg, sign, alg.lower())}", timeout=10)
        welcome = json.loads(socket.recv())
        assert welcome["type"] == "welcome" and welcome["nick"] == alg.lower()
        socket.close()
    refusals = [
        token("ES256", lambda data: es256(other, data), "forger"),  # a key the server does not have
        token("HS256", lambda data: hmac.new(pem, data, hashlib.sha256).digest(), "confused"),  # public key as HMAC secret
        token("none", lambda data: b"", "nobody"),
    ]
    for refused in refusals:
        try:
            websocket.create_connection(f"{server.ws_url}/ws?room=pem&auth={refused}", timeout=10).close()
            raise AssertionError("upgrade accepted")
        except websocket.WebSocketBadStatusException as error:
            assert error.status_code == 401
    # Another room, and no token at all under --auth required.
    for query in (f"room=elsewhere&auth={token('EdDSA', signers['EdDSA'], 'x')}", "room=pem&nick=anon"):
        try:
            websocket.create_connection(f"{server.ws_url}/ws?{query}", timeout=10).close()
            raise AssertionError("upgrade accepted")
        except websocket.WebSocketBadStatusException as error:
            assert error.status_code == 401


def test_the_example_app_mints_tokens_that_parley_shows_as_verified(make_server):
    import re
    import subprocess
    from pathlib import Path

    import websocket

    server = make_server("--auth-secret", SECRET)
    app_path = Path(__file__).resolve().parents[2] / "examples" / "token_app.py"
    env = dict(os.environ, PARLEY_URL=server.http_url, PARLEY_SECRET=SECRET, PARLEY_ROOM="team")
    app = subprocess.Popen(["python3", str(app_path), "--port", "0"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        port = re.search(r":(\d+)$", app.stdout.readline().strip()).group(1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/?user=grace", timeout=10) as reply:
            page = reply.read().decode()
        src = re.search(r'<iframe [^>]*src="([^"]+)"', page).group(1).replace("&amp;", "&")
        # The page answers the frame's parley:token-expired from Parley's origin only, with a token from /token.
        assert f"event.origin !== {json.dumps(server.http_url)}" in page
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/token?user=grace", timeout=10) as reply:
            fresh = reply.read().decode()
        assert fresh.count(".") == 2
        assert src.startswith(f"{server.http_url}/r/team?auth=")
        token = src.split("auth=", 1)[1]
        socket = websocket.create_connection(f"{server.ws_url}/ws?room=team&auth={token}", timeout=10)
        assert json.loads(socket.recv())["nick"] == "Grace Hopper"
        socket.send(json.dumps({"type": "message", "text": "from the app", "client_id": "example-1"}))
        while True:
            event = json.loads(socket.recv())
            if event["type"] == "message":
                break
        assert event["verified"] is True and event["nick"] == "Grace Hopper"
        socket.close()
        # The page the iframe opens is Parley's UI.
        with urllib.request.urlopen(src, timeout=10) as reply:
            assert reply.status == 200
    finally:
        app.terminate()
        app.wait(timeout=10)
