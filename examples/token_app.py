"""A tiny application with its own users that lets them into a Parley room under their verified names.

It signs an HS256 token (contract §13) for the signed-in user and embeds Parley's web UI in a frame, which
reads the token from `?auth=`; when the token runs out, the UI asks this page for a fresh one (postMessage
`parley:token-expired`), which the page fetches from `/token` and hands back. Standard library only.

    parley serve --auth-secret "$SECRET" --embed-origin http://127.0.0.1:8000
    PARLEY_URL=http://127.0.0.1:8080 PARLEY_SECRET="$SECRET" python3 examples/token_app.py --port 8000
    open http://127.0.0.1:8000/?user=grace

A real application takes the user from its own session, never from the query string as here.
"""

import argparse
import base64
import hashlib
import hmac
import html
import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlparse

PARLEY_URL = os.environ.get("PARLEY_URL", "http://127.0.0.1:8080").rstrip("/")
PARLEY_ORIGIN = "{0.scheme}://{0.netloc}".format(urlparse(PARLEY_URL))
SECRET = os.environ["PARLEY_SECRET"].encode()
ROOM = os.environ.get("PARLEY_ROOM", "team")
USERS = {"grace": "Grace Hopper", "alan": "Alan Turing"}  # this app's own accounts


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(user, lifetime=600):
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": user, "nick": USERS[user], "rooms": [ROOM], "exp": int(time.time()) + lifetime}
    payload = b64url(json.dumps(claims).encode())
    signature = hmac.new(SECRET, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


# Answers the frame's request for a fresh token, and only from Parley's origin.
RENEW = """<script>
addEventListener("message", async (event) => {
  if (event.origin !== %s || event.data?.type !== "parley:token-expired") return;
  const reply = await fetch("/token?user=" + encodeURIComponent(%s));
  event.source.postMessage({type: "parley:token", token: await reply.text()}, event.origin);
});
</script>"""


class App(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlparse(self.path)
        user = parse_qs(url.query).get("user", [""])[0]
        if user not in USERS:
            self.send_error(403, "sign in first")
            return
        if url.path == "/token":
            self.reply("text/plain", mint(user))
            return
        src = f"{PARLEY_URL}/r/{quote(ROOM)}?auth={quote(mint(user))}"
        page = (f"<!doctype html><title>Team chat</title><h1>Hello, {html.escape(USERS[user])}</h1>"
                f'<iframe title="Team chat" src="{html.escape(src)}" style="width:100%;height:80vh;border:0"></iframe>'
                + RENEW % (json.dumps(PARLEY_ORIGIN), json.dumps(user)))  # user is one of USERS' keys
        self.reply("text/html; charset=utf-8", page)

    def reply(self, content_type, text):
        body = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8000)
    port = parser.parse_args().port
    server = ThreadingHTTPServer(("127.0.0.1", port), App)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()
