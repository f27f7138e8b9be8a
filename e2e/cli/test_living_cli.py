"""`parley chat` and living messages (PROTOCOL.md §11, §15): /reply, /edit, /delete, /react, /unreact,
/search and /ids, shown in another client as they arrive, and changes made while away shown on resume."""

import json
import socket
import threading
import urllib.error
import urllib.request

from conftest import run_parley

TIME = r"\d\d:\d\d:\d\d"


def stored(server, room):
    try:
        with urllib.request.urlopen(f"{server.http_url}/api/rooms/{room}/messages?limit=200", timeout=10) as answer:
            return json.load(answer)["messages"]
    except urllib.error.HTTPError as error:
        if error.code == 404:  # an open room where nothing was ever stored is forgotten
            return []
        raise


def test_commands_change_messages_and_another_client_sees_each_change(server, clients):
    alice = clients(server.ws_url, "--room", "live", "--nick", "alice", "--show-ids")
    alice.err.wait_for("connected to room live as alice")
    bob = clients(server.ws_url, "--room", "live", "--nick", "bob")
    bob.err.wait_for("connected to room live as bob")

    alice.send("the plan is ready")
    alice.out.wait_for(rf"^{TIME} #1 <alice>\* the plan is ready$")  # --show-ids
    bob.out.wait_for(rf"^{TIME} <alice> the plan is ready$")
    bob.send("/reply 1 great, reading it")
    quote = alice.out.wait_for(r"^ +↳ re #1 alice: the plan is ready$")
    alice.out.wait_for(rf"^{TIME} #2 <bob> great, reading it$", start=quote + 1)

    alice.send("/edit the plan is ready (v2)")  # no id: the last own message
    bob.out.wait_for(rf"-- #1 alice edited: the plan is ready \(v2\)$")
    alice.out.wait_for(rf"-- #1 alice edited: the plan is ready \(v2\)$")

    bob.send("/react 1 👍")
    alice.out.wait_for(r"-- #1 alice: reactions 👍 bob$")
    alice.send("/react #1 🎉")
    bob.out.wait_for(r"-- #1 alice: reactions 👍 bob · 🎉 alice$")
    bob.send("/unreact 1 👍")
    alice.out.wait_for(r"-- #1 alice: reactions 🎉 alice$")

    bob.send("/edit 1 not mine")
    bob.err.wait_for(r"server: forbidden")
    alice.send("/delete 1")
    bob.out.wait_for(r"-- #1 alice: message deleted$")

    bob.send("/search reading")
    start = bob.out.wait_for(r'-- search "reading": 1 found, newest first$')
    bob.out.wait_for(rf"^ +↳ re #1 alice: \(deleted\)$", start=start)
    bob.out.wait_for(rf"^{TIME} #2 <bob> great, reading it$", start=start)  # results always show ids
    bob.send("/ids")
    bob.err.wait_for("message ids shown")
    alice.send("one more")
    bob.out.wait_for(rf"^{TIME} #3 <alice> one more$")

    assert alice.finish() == 0
    assert bob.finish() == 0
    messages = stored(server, "live")
    assert messages[0]["deleted"] is True and messages[0]["text"] == ""
    assert messages[1]["reply_to"] == 1


def test_usage_of_the_new_commands_is_explained_not_sent(server):
    script = "/reply\n/reply x hi\n/edit 3\n/delete\n/react 1\n/react 1 two words\n/search\n/ids maybe\n"
    result = run_parley("chat", server.ws_url, "--room", "usage", "--nick", "u", input_text=script)
    assert result.returncode == 0, result.stderr
    for usage in ("usage: /reply ID TEXT", "usage: /edit ID TEXT", "usage: /delete ID", "usage: /react ID EMOJI",
                  "not a reaction: two words", "usage: /search WORDS", "usage: /ids [on|off]"):
        assert usage in result.stderr
    assert stored(server, "usage") == []


def test_a_script_can_reply_edit_react_and_delete(server):
    # One session: only the session that sent a message may edit or delete it.
    script = "first\nsecond\n/reply 1 an answer\n/react 2 ✅\n/edit 2 second, edited\n/delete 1\n"
    result = run_parley("chat", server.ws_url, "--room", "scripted", "--nick", "a", input_text=script)
    assert result.returncode == 0, result.stderr
    first, second, answer = stored(server, "scripted")
    assert first.get("deleted") is True
    assert second["text"] == "second, edited" and second["reactions"] == [{"emoji": "✅", "nicks": ["a"]}]
    assert answer["reply_to"] == 1 and answer["text"] == "an answer"


class Gate:
    """A TCP relay to the server that can be shut: it drops the connections through it and refuses new ones,
    so one client is away while the others carry on."""

    def __init__(self, port):
        self.target = port
        self.open = True
        self.links = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            self.links += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def shut(self):
        self.open = False
        for link in self.links:
            try:
                link.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.links = []

    def reopen(self):
        self.open = True

    def close(self):
        self.shut()
        self.listener.close()


def test_resume_with_since_and_rev_shows_changes_made_while_away(server, clients):
    # Alice reaches the server through a gate. While it is shut, bob edits, deletes and reacts to messages
    # alice has seen; when it opens, alice resumes with since and rev and is shown each change.
    gate = Gate(server.port)
    try:
        alice = clients(f"ws://127.0.0.1:{gate.port}", "--room", "away", "--nick", "alice", "--show-ids")
        alice.err.wait_for("connected to room away as alice")
        bob = clients(server.ws_url, "--room", "away", "--nick", "bob", "--show-ids")
        bob.err.wait_for("connected to room away as bob")
        for text in ("one", "two", "three"):
            bob.send(text)
        alice.out.wait_for(r"#3 <bob> three$")

        gate.shut()
        alice.err.wait_for("disconnected")
        bob.send("/edit 1 one, edited")
        bob.out.wait_for(r"-- #1 bob edited: one, edited$")
        bob.send("/react 2 👍")
        bob.out.wait_for(r"-- #2 bob: reactions 👍 bob$")
        bob.send("/delete 3")
        bob.out.wait_for(r"-- #3 bob: message deleted$")
        bob.send("four")
        bob.out.wait_for(r"#4 <bob>\* four$")

        mark = len(alice.out.lines)
        gate.reopen()
        alice.err.wait_for(r"resumed, 1 missed message", timeout=30)
        alice.out.wait_for(r"-- #1 bob edited: one, edited$", start=mark)
        alice.out.wait_for(r"-- #2 bob: reactions 👍 bob$", start=mark)
        alice.out.wait_for(r"-- #3 bob: message deleted$", start=mark)
        alice.out.wait_for(rf"^{TIME} #4 <bob> four$", start=mark)
        assert alice.finish() == 0
        assert bob.finish() == 0
    finally:
        gate.close()
