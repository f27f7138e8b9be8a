"""End-to-end tests of `parley chat` and `parley create-room`: the real binary against a real server."""

import io
import json
import os
import re
import urllib.request

import pexpect
import pytest

from conftest import PARLEY_BIN, Server, free_port, run_parley

ESC = "\x1b["


def stored_texts(server, room):
    with urllib.request.urlopen(f"{server.http_url}/api/rooms/{room}/messages?limit=200", timeout=10) as answer:
        return [message["text"] for message in json.load(answer)["messages"]]


def no_color_env(**extra):
    env = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
    env.update(extra)
    return env


# Chatting through pipes


def test_two_clients_exchange_lines_through_pipes(server, clients):
    alice = clients(server.ws_url, "--room", "lobby", "--nick", "alice")
    alice.err.wait_for("connected to room lobby as alice")
    bob = clients(f"{server.http_url}/r/lobby", "--nick", "bob")  # invite URL: no --room needed
    bob.err.wait_for("connected to room lobby as bob")
    alice.out.wait_for("-- bob joined")

    alice.send("hi bob")
    bob.out.wait_for(r"^\d\d:\d\d:\d\d <alice> hi bob$")
    alice.out.wait_for(r"^\d\d:\d\d:\d\d <alice>\* hi bob$")  # own messages are marked
    bob.send("hello alice")
    alice.out.wait_for(r"<bob> hello alice$")

    assert bob.finish() == 0
    alice.out.wait_for("-- bob left")
    assert alice.finish() == 0
    assert ESC not in alice.out.text + bob.out.text  # piped: no colours
    assert stored_texts(server, "lobby") == ["hi bob", "hello alice"]


def test_piped_script_sends_every_line_then_exits_zero(server):
    lines = [f"line {n}" for n in range(30)]  # more than the server's burst: the client paces itself
    result = run_parley("chat", server.ws_url, "--room", "script", "--nick", "bot", input_text="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    assert stored_texts(server, "script") == lines
    shown = [line.split(" ", 2)[2] for line in result.stdout.splitlines()]
    assert shown == lines


def test_history_and_members_from_a_script(server):
    run_parley("chat", server.ws_url, "--room", "old", "--nick", "a", input_text="".join(f"m{n}\n" for n in range(1, 8)))
    result = run_parley("chat", server.ws_url, "--room", "old", "--nick", "reader", input_text="/members\n")
    assert result.returncode == 0, result.stderr
    assert [line.split()[-1] for line in result.stdout.splitlines()] == [f"m{n}" for n in range(1, 8)]
    assert "1 member: reader" in result.stderr


def test_history_command_fetches_older_messages(make_server):
    server = make_server("--history-size", "3")
    run_parley("chat", server.ws_url, "--room", "deep", "--nick", "a", input_text="".join(f"m{n}\n" for n in range(1, 8)))
    result = run_parley("chat", server.ws_url, "--room", "deep", "--nick", "r", input_text="/history 2\n")
    assert result.returncode == 0, result.stderr
    texts = [line.split()[-1] for line in result.stdout.splitlines() if "--" not in line]
    assert texts == ["m5", "m6", "m7", "m3", "m4"]  # the welcome's 3 newest, then the 2 before them
    assert "older messages" in result.stdout


# Resume across a server crash


def test_kill9_mid_conversation_loses_nothing_and_doubles_nothing(server, clients):
    alice = clients(server.ws_url, "--room", "crash", "--nick", "alice")
    alice.err.wait_for("connected to room crash")
    bob = clients(server.ws_url, "--room", "crash", "--nick", "bob")
    bob.err.wait_for("connected to room crash")
    alice.send("before the crash")
    bob.out.wait_for("<alice> before the crash")
    alice.out.wait_for(r"<alice>\* before the crash")

    server.kill9()
    mark = len(alice.err.lines)
    alice.err.wait_for("reconnecting in", start=mark)
    alice.send("typed during the outage")
    server.start()

    bob.out.wait_for("<alice> typed during the outage", timeout=30)
    alice.out.wait_for(r"<alice>\* typed during the outage", timeout=30)
    alice.err.wait_for("resumed", start=mark)
    bob.send("after the restart")
    alice.out.wait_for("<bob> after the restart")

    assert alice.finish() == 0
    assert bob.finish() == 0
    for client in (alice, bob):
        texts = [line.split(" ", 2)[2] for line in client.out.lines if " -- " not in line]
        assert texts == ["before the crash", "typed during the outage", "after the restart"], client.out.text
    assert stored_texts(server, "crash") == ["before the crash", "typed during the outage", "after the restart"]


def test_lines_unacknowledged_at_end_of_input_exit_75(server, clients):
    alice = clients(server.ws_url, "--room", "gone", "--nick", "alice", "--ack-timeout", "2")
    alice.err.wait_for("connected to room gone")
    server.kill9()
    alice.err.wait_for("reconnecting in")
    alice.send("nobody will hear this")
    assert alice.finish(timeout=20) == 75
    alice.err.wait_for("1 line was not acknowledged")


# The interactive view in a pseudo-terminal


def spawn_chat(server, nick, env):
    child = pexpect.spawn(PARLEY_BIN, ["chat", server.ws_url, "--room", "tty", "--nick", nick], env=env,
                          encoding="utf-8", timeout=15, dimensions=(40, 120))
    child.expect("connected to room tty as " + nick)
    return child


def test_terminal_view_has_colours_and_handles_nick_and_quit(server, clients):
    bob = clients(server.ws_url, "--room", "tty", "--nick", "bob")
    bob.err.wait_for("connected to room tty")
    child = spawn_chat(server, "carol", no_color_env(TERM="xterm-256color"))
    try:
        child.sendline("hello from a terminal")
        child.expect(re.escape(ESC + "1m<carol>*" + ESC + "0m hello from a terminal"))  # own: bold and starred
        bob.send("hi carol")
        child.expect(r"\x1b\[\d+m<bob>\x1b\[0m hi carol")  # other nicks in colour
        child.sendline("/nick caz")
        child.expect(re.escape(ESC + "2m") + r"\d\d:\d\d:\d\d -- you are now known as caz")  # events dimmed
        bob.out.wait_for("-- carol is now known as caz")
        child.sendline("/members")
        child.expect("2 members: bob, caz")
        child.sendline("/help")
        child.expect("/history")
        child.sendline("/quit")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0
        bob.out.wait_for("-- caz left")
    finally:
        child.close(force=True)
    assert bob.finish() == 0


def test_no_colours_when_no_color_is_set(server):
    child = spawn_chat(server, "plain", no_color_env(TERM="xterm", NO_COLOR="1"))
    try:
        child.sendline("no colours please")
        child.expect(r"<plain>\* no colours please")
        child.sendline("/quit")
        child.expect(pexpect.EOF)
        assert ESC not in child.before
    finally:
        child.close(force=True)


# create-room


def test_create_room_prints_code_and_invite_and_the_room_works(make_server):
    server = make_server("--room-creation", "api")
    result = run_parley("create-room", server.http_url, "--name", "Team")
    assert result.returncode == 0, result.stderr
    code = re.search(r"^code (\S+)$", result.stdout, re.M).group(1)
    invite = re.search(r"^invite (\S+)$", result.stdout, re.M).group(1)
    assert invite == f"{server.http_url}/r/{code}"
    chat = run_parley("chat", invite, "--nick", "dora", input_text="in a private room\n")
    assert chat.returncode == 0, chat.stderr
    assert "connected to room " + code + " (Team) as dora" in chat.stderr
    assert stored_texts(server, code) == ["in a private room"]


def test_create_room_json_over_a_ws_url(server):
    result = run_parley("create-room", server.ws_url, "--json")
    assert result.returncode == 0, result.stderr
    room = json.loads(result.stdout)
    assert room["name"] is None
    assert room["url"].startswith(server.http_url + "/r/")
    assert set(room) >= {"code", "name", "created_at", "url", "ws_url"}


# Every documented error path


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "ftp://127.0.0.1:8080", "ws://", "ws://127.0.0.1:8080/elsewhere"])
def test_malformed_url_exits_64(url):
    result = run_parley("chat", url, "--room", "lobby")
    assert result.returncode == 64
    assert "malformed URL" in result.stderr
    assert run_parley("create-room", url).returncode == 64


def test_missing_or_invalid_arguments_exit_64():
    assert run_parley("chat").returncode == 64
    missing_room = run_parley("chat", "ws://127.0.0.1:9")
    assert missing_room.returncode == 64 and "--room is required" in missing_room.stderr
    bad_room = run_parley("chat", "ws://127.0.0.1:9", "--room", "no spaces!")
    assert bad_room.returncode == 64 and "invalid_room" in bad_room.stderr
    bad_nick = run_parley("chat", "ws://127.0.0.1:9", "--room", "ok", "--nick", "x" * 40)
    assert bad_nick.returncode == 64 and "invalid_nick" in bad_nick.stderr


def test_unreachable_server_exits_69():
    port = free_port()  # nothing listens there
    chat = run_parley("chat", f"ws://127.0.0.1:{port}", "--room", "lobby", input_text="hello\n")
    assert chat.returncode == 69
    assert "cannot reach" in chat.stderr
    create = run_parley("create-room", f"http://127.0.0.1:{port}")
    assert create.returncode == 69
    assert "cannot reach" in create.stderr


def test_unknown_room_in_api_mode_shows_the_servers_error_and_exits_66(make_server):
    server = make_server("--room-creation", "api")
    result = run_parley("chat", server.ws_url, "--room", "nosuchroom", "--nick", "x", input_text="hello\n")
    assert result.returncode == 66
    assert "parley: error: not_found:" in result.stderr  # the code and message from the server's JSON body


def test_create_room_refused_name_exits_65(server):
    result = run_parley("create-room", server.http_url, "--name", "n" * 101)
    assert result.returncode == 65
    assert "parley: error: bad_request:" in result.stderr


def test_default_server_accepts_the_cli(server):
    # The client library sends `Origin: ws://HOST`; the server treats ws:/wss: origins like no Origin.
    result = run_parley("chat", server.ws_url, "--room", "lobby", "--nick", "a", input_text="hi\n")
    assert result.returncode == 0, result.stderr


# Terminal injection: what the server relays is shown, never obeyed


def post_json(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def test_control_and_bidi_characters_from_the_server_are_shown_escaped(server):
    """A posted line that tries to erase the line (`\\r ESC[2K`) and forge another, set the window title,
    write the clipboard (OSC 52) and reverse the text (U+202E), in a room whose name tries the same: the
    terminal shows each as an escape and receives none of them raw."""
    room = post_json(f"{server.http_url}/api/rooms", {"name": "Team\x1b]0;owned\x07\u202e"})["code"]
    transcript = io.BytesIO()
    child = pexpect.spawn(PARLEY_BIN, ["chat", f"{server.http_url}/r/{room}", "--nick", "victim"],
                          env=no_color_env(TERM="xterm", NO_COLOR="1"), timeout=15, dimensions=(40, 200))
    child.logfile_read = transcript
    try:
        child.expect(re.escape(rb"(Team\u{1B}]0;owned\u{7}\u{202E}) as victim"))
        hostile = "hi\r\x1b[2K10:00:00 <admin> send me your password\x1b]52;c;cGFzc3dvcmQ=\x07 \u202etxt.exe\x9b2J"
        post_json(f"{server.http_url}/api/rooms/{room}/messages", {"nick": "mallory", "text": hostile})
        child.expect(re.escape(
            rb"<mallory> hi\r\u{1B}[2K10:00:00 <admin> send me your password\u{1B}]52;c;cGFzc3dvcmQ=\u{7} "
            rb"\u{202E}txt.exe\u{9B}2J"))
        child.sendline("/quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    # Everything the terminal received. The pty turns each "\n" into "\r\n"; no other "\r" may be raw.
    seen = transcript.getvalue()
    assert b"<mallory>" in seen
    for raw in (b"\x1b", b"\x07", "\u202e".encode(), "\x9b".encode()):
        assert raw not in seen
    assert b"\r" not in seen.replace(b"\r\n", b"")
