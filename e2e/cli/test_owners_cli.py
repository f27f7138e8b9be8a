"""`parley create-room` and `parley chat` for room owners (PROTOCOL.md §12): the owner URL and its warning,
--key or the owner URL, /kick, /ban, /bans, /unban, /topic, /lock, /unlock, /slow and /modlink, each seen by
a second client as it happens."""

import re

from conftest import run_parley

TIME = r"\d\d:\d\d:\d\d"


def create_room(server):
    made = run_parley("create-room", server.http_url)
    assert made.returncode == 0, made.stderr
    lines = dict(line.split(" ", 1) for line in made.stdout.splitlines())
    assert re.fullmatch(r"https?://[^ ]+/r/[a-z0-9-]+#key=[a-z0-9-]{26,}", lines["owner"])
    assert lines["owner"].startswith(lines["invite"] + "#key=")
    assert "secret" in made.stderr
    return lines["code"], lines["owner"]


def test_owner_moderates_from_the_terminal(server, clients):
    code, owner_url = create_room(server)
    owner = clients(owner_url, "--nick", "olga")  # the owner URL alone: room and key
    owner.err.wait_for(f"connected to room {code} as olga")
    owner.err.wait_for("you are this room's owner")
    mia = clients(server.ws_url, "--room", code, "--nick", "mia")
    mia.err.wait_for(f"connected to room {code} as mia")

    owner.send("/topic be kind")
    mia.err.wait_for("topic: be kind; not locked; slow mode off")
    owner.send("/lock")
    mia.err.wait_for("locked: only the owner and moderators may post")
    mia.send("can I?")
    mia.err.wait_for("server: forbidden")
    owner.send("/unlock")
    mia.err.wait_for("topic: be kind; not locked")
    owner.send("/slow 3600")
    mia.err.wait_for("slow mode: one message per 3600 s")
    owner.send("/slow 0")
    mia.err.wait_for("slow mode off", start=len(mia.err.lines) - 1)

    owner.send("/modlink")
    line = owner.err.wait_for(r"moderator link \(a secret")
    mod_url = owner.err.lines[line].rsplit(" ", 1)[-1]
    assert "#key=" in mod_url
    max_ = clients(server.ws_url, "--room", code, "--nick", "max", "--key", mod_url.split("#key=")[1])
    max_.err.wait_for("you are this room's moderator")

    troll = clients(server.ws_url, "--room", code, "--nick", "troll")
    troll.err.wait_for(f"connected to room {code} as troll")
    max_.send("/kick troll")
    owner.out.wait_for(rf"^{TIME} -- troll was kicked$")
    troll.err.wait_for("4003")

    troll2 = clients(server.ws_url, "--room", code, "--nick", "spam")
    troll2.err.wait_for(f"connected to room {code} as spam")
    owner.send("/ban spam 600")
    mia.out.wait_for(rf"^{TIME} -- spam was banned$")
    owner.send("/bans")
    owner.err.wait_for(r"banned: spam \(until \d\d:\d\d:\d\d\)")
    owner.send("/unban spam")
    owner.send("/bans")
    owner.err.wait_for("nobody is banned")

    mia.send("/kick olga")
    mia.err.wait_for("server: forbidden")
    for client in (owner, mia, max_):
        assert client.finish() == 0
