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


def test_a_refused_token_is_said_plainly(make_server):
    server = make_server("--auth-secret", SECRET)
    expired = hs256_token({"sub": "user-7", "exp": int(time.time()) - 60})
    result = run_parley("chat", server.ws_url, "--room", "signed", "--token", expired, input_text="x\n")
    assert result.returncode != 0
    assert "expired" in result.stderr
