"""End-to-end tests of the web UI: real parley server, real headless Chromium, real WebSockets."""

import json
import urllib.error
import urllib.request

import pytest

from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from browser_support import ARTIFACTS, Axe, accessibility_violations, free_port, set_viewport


def post_json(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, json.loads(resp.read())


def room_code(invite_url):
    return invite_url.rsplit("/r/", 1)[1]


def assert_contiguous(page):
    ids = [i for i, _, _, _ in page.messages() if i is not None]
    assert ids == list(range(1, len(ids) + 1)), f"message ids not contiguous: {ids}"
    return ids


def test_two_browsers_chat_through_an_invite_link(server, browser):
    a, b = browser(), browser()
    invite = a.create_room(server.base_url, "alice", name="Team sync")
    assert "/r/" in invite and invite.startswith(server.base_url)
    assert a.d.find_element(By.ID, "room-name").text == "Team sync"

    b.join_invite(invite, "bob")
    for page in (a, b):
        page.wait(lambda p=page: {"alice", "bob"} <= set(p.member_nicks()), message="member list incomplete")

    # Typing shows up on the other side, then clears when the message lands.
    a.type("hello from alice")
    b.wait(lambda: "alice" in b.tid("typing-indicator").text and "typing" in b.tid("typing-indicator").text,
           message="typing indicator never appeared")
    a.send("")  # Enter sends what was typed
    b.wait_message("hello from alice", nick="alice")
    a.wait_message("hello from alice", nick="alice")
    b.wait(lambda: b.tid("typing-indicator").text == "", message="typing indicator did not clear")

    b.send("hi alice, bob here", via_button=True)
    a.wait_message("hi alice, bob here", nick="bob")
    b.wait_message("hi alice, bob here", nick="bob")

    # Own messages are marked; the input is cleared after sending.
    own = a.d.find_elements(By.CSS_SELECTOR, '[data-testid="message"].own')
    assert [e.find_element(By.CSS_SELECTOR, ".msg-text").text for e in own] == ["hello from alice"]
    assert a.tid("message-input").get_attribute("value") == ""

    # Shift+Enter is a new line, not a send.
    box = b.tid("message-input")
    box.send_keys("line one", Keys.SHIFT, Keys.ENTER, Keys.SHIFT, "line two", Keys.ENTER)
    a.wait_message("line one\nline two", nick="bob")
    assert assert_contiguous(a) == assert_contiguous(b) == [1, 2, 3]


def test_nick_command_and_remembered_nick(server, browser):
    a, b = browser(), browser()
    invite = a.create_room(server.base_url, "alice")
    b.join_invite(invite, "bob")
    a.send("/nick alicia")
    b.wait(lambda: "alicia" in b.member_nicks() and "alice" not in b.member_nicks(),
           message="rename not seen by the other member")
    a.wait(lambda: a.d.find_element(By.ID, "my-nick").text == "alicia")
    # A slash command is not sent as a chat message.
    assert a.messages() == [] and b.messages() == []
    a.send("renamed and still here")
    b.wait_message("renamed and still here", nick="alicia")

    # The nick is remembered: reopening the invite link walks straight back in under it.
    a.open(invite)
    a.wait_connected()
    assert a.d.find_element(By.ID, "my-nick").text == "alicia"
    a.wait_message("renamed and still here", nick="alicia")
    assert a.d.find_elements(By.CSS_SELECTOR, '[data-testid="message"].own')


def test_join_by_code_and_load_older(server_factory, browser):
    srv = server_factory(extra_args=["--history-size", "5"])
    a = browser()
    invite = a.create_room(srv.base_url, "alice")
    code = room_code(invite)
    texts = [f"message number {i}" for i in range(1, 13)]
    for text in texts:
        post_json(f"{srv.base_url}/api/rooms/{code}/messages", {"nick": "bot", "text": text})
    a.wait_message(texts[-1])

    b = browser()
    b.open(srv.base_url + "/")
    b.set_nick("bob")
    b.tid("room-input").send_keys(code)
    b.tid("join-button").click()
    b.wait_connected()
    b.wait_message(texts[-1])
    assert [t for _, _, t, _ in b.messages()] == texts[-5:]
    older = b.d.find_element(By.ID, "load-older")
    assert older.is_displayed()
    older.click()
    b.wait(lambda: len(b.messages()) == 12, message="older messages never loaded")
    assert [t for _, _, t, _ in b.messages()] == texts
    assert assert_contiguous(b) == list(range(1, 13))
    b.wait(lambda: not b.d.find_element(By.ID, "load-older").is_displayed())


def test_restart_mid_conversation_loses_and_doubles_nothing(server_factory, browser, tmp_path):
    port = free_port()
    database = str(tmp_path / "restart.sqlite")
    srv = server_factory(port=port, database=database)
    a, b = browser(), browser()
    invite = a.create_room(srv.base_url, "alice")
    b.join_invite(invite, "bob")
    a.send("before the restart 1")
    b.send("before the restart 2")
    for page in (a, b):
        page.wait_message("before the restart 2")

    srv.stop()  # SIGTERM: graceful shutdown closes every socket
    for page in (a, b):
        page.wait(lambda p=page: p.status() != "connected", message="page still claims to be connected")

    offline_text = "typed during the outage"
    a.send(offline_text)
    a.wait(lambda: any(t == offline_text and pending for _, _, t, pending in a.messages()),
           message="offline message not shown as pending")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    a.d.save_screenshot(str(ARTIFACTS / "outage-desktop.png"))

    srv2 = server_factory(port=port, database=database)
    assert srv2.port == port
    for page in (a, b):
        page.wait_connected(timeout=30)

    b.wait_message(offline_text, nick="alice")
    a.wait_message(offline_text, nick="alice")
    a.wait(lambda: not any(p for _, _, _, p in a.messages()), message="pending message never acknowledged")
    b.send("after the restart")
    a.wait_message("after the restart", nick="bob")

    for page in (a, b):
        assert page.count_text(offline_text) == 1
        assert page.count_text("before the restart 1") == 1
        assert assert_contiguous(page) == [1, 2, 3, 4]
        # Nicks survive the reconnect.
        assert {"alice", "bob"} <= set(page.member_nicks())
    assert a.d.find_element(By.ID, "my-nick").text == "alice"

    # A fresh page load shows the same history from the server.
    c = browser()
    c.join_invite(invite, "carol")
    c.wait_message("after the restart")
    assert [t for _, _, t, _ in c.messages()] == [
        "before the restart 1", "before the restart 2", offline_text, "after the restart"]


def test_xss_payloads_render_as_text(server, browser):
    a = browser()
    invite = a.create_room(server.base_url, "alice")
    code = room_code(invite)
    payloads = [
        "<img src=x onerror=alert(1)>",
        "<script>alert(1)</script>",
        "javascript:alert(1)",
        "see https://example.com/a?b=1 and javascript:alert(2)",
    ]
    for text in payloads:
        status, _ = post_json(f"{server.base_url}/api/rooms/{code}/messages",
                              {"nick": "<b onmouseover=alert(3)>m</b>", "text": text})
        assert status == 201

    def check(page):
        for text in payloads:
            page.wait_message(text)
        try:
            page.d.switch_to.alert
            raise AssertionError("an alert was opened")
        except NoAlertPresentException:
            pass
        listing = page.tid("message-list")
        assert listing.find_elements(By.TAG_NAME, "img") == []
        assert listing.find_elements(By.TAG_NAME, "script") == []
        assert listing.find_elements(By.TAG_NAME, "b") == []
        links = listing.find_elements(By.TAG_NAME, "a")
        hrefs = [l.get_attribute("href") for l in links]
        assert hrefs == ["https://example.com/a?b=1"], hrefs
        assert "noopener" in links[0].get_attribute("rel")
        assert {n for _, n, _, _ in page.messages()} == {"<b onmouseover=alert(3)>m</b>"}
        assert [t for _, _, t, _ in page.messages()] == payloads

    check(a)  # delivered live
    b = browser()
    b.join_invite(invite, "bob")
    check(b)  # delivered as history


def test_csp_header_and_no_violations(server, browser):
    for path in ("/", "/r/x"):
        with urllib.request.urlopen(server.base_url + path, timeout=10) as resp:
            csp = resp.headers.get("Content-Security-Policy", "")
            assert "script-src 'self'" in csp and "style-src 'self'" in csp, csp
            assert "unsafe-inline" not in csp
            assert resp.headers.get_content_type() == "text/html"
    # Browsers run a module only when it is served as JavaScript.
    for module in ("app", "protocol", "session", "socket", "view", "lobby", "storage"):
        with urllib.request.urlopen(f"{server.base_url}/{module}.js", timeout=10) as resp:
            assert resp.headers.get_content_type() == "text/javascript", module
            # Revalidated on every load, so an upgrade never mixes an old cached module with new ones.
            assert resp.headers.get("Cache-Control") == "no-cache", module
            etag = resp.headers.get("ETag")
        request = urllib.request.Request(f"{server.base_url}/{module}.js", headers={"If-None-Match": etag})
        try:
            urllib.request.urlopen(request, timeout=10)
            raise AssertionError(f"{module}.js: unchanged, yet sent again")
        except urllib.error.HTTPError as unchanged:
            assert unchanged.code == 304, module

    a, b = browser(), browser()
    invite = a.create_room(server.base_url, "alice", name="CSP check")
    b.join_invite(invite, "bob")
    a.send("styled and scripted under CSP")
    b.wait_message("styled and scripted under CSP")
    # The stylesheet really applied (a CSP block would leave default styles).
    assert b.d.execute_script(
        "return getComputedStyle(document.querySelector('.composer')).display") == "flex"
    for page in (a, b):
        logs = page.d.get_log("browser")
        assert not [e for e in logs if "Content Security Policy" in e["message"]], logs
        assert not [e for e in logs if e["level"] == "SEVERE"], logs


def test_screenshots_of_a_live_conversation(server, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    lobby = browser()
    set_viewport(lobby, 1280, 800)
    lobby.open(server.base_url + "/")
    lobby.d.save_screenshot(str(ARTIFACTS / "lobby-desktop.png"))

    a, b = browser(), browser()
    set_viewport(a, 1280, 800)
    set_viewport(b, 360, 740)
    invite = a.create_room(server.base_url, "Ada", name="Launch planning")
    code = room_code(invite)
    b.open(invite)
    b.d.save_screenshot(str(ARTIFACTS / "invite-360.png"))
    b.set_nick("Grace")
    b.tid("join-button").click()
    b.wait_connected()

    post_json(f"{server.base_url}/api/rooms/{code}/messages",
              {"nick": "Linus", "text": "Morning! Release notes draft is up for review."})
    a.send("Thanks Linus, reading it now.")
    a.send("Two things: the changelog link and the migration section 📋")
    b.send("I can take the migration section 👍")
    post_json(f"{server.base_url}/api/rooms/{code}/messages",
              {"nick": "Linus", "text": "Draft lives at https://example.com/releases/2026-11/notes-draft-v3"})
    b.send("Also, supercalifragilisticexpialidocious_identifier_names_should_wrap_without_breaking_layout")
    a.send("Perfect. Let's ship on Thursday 🚀")
    b.wait_message("Perfect. Let's ship on Thursday 🚀")
    b.type("Sounds good")
    a.wait(lambda: "Grace" in a.tid("typing-indicator").text, message="no typing indicator")

    a.d.save_screenshot(str(ARTIFACTS / "chat-desktop.png"))
    b.d.save_screenshot(str(ARTIFACTS / "chat-360.png"))

    # Nothing overflows sideways at 360 px; the sidebar is a drawer there.
    assert b.d.execute_script("return document.documentElement.scrollWidth") <= 360
    assert not b.tid("member-list").is_displayed()
    b.d.find_element(By.ID, "members-toggle").click()
    b.wait(lambda: b.tid("member-list").is_displayed(), message="drawer did not open")
    b.wait(lambda: b.d.execute_script(
        "return document.getElementById('sidebar').getBoundingClientRect().left") >= 0)
    b.d.save_screenshot(str(ARTIFACTS / "chat-360-members.png"))

    set_viewport(a, 1280, 800, dark=True)
    a.d.save_screenshot(str(ARTIFACTS / "chat-desktop-dark.png"))
    set_viewport(b, 360, 740, dark=True)
    b.d.find_element(By.ID, "sidebar-close").click()
    b.wait(lambda: not b.tid("member-list").is_displayed(), message="drawer did not close")
    b.d.save_screenshot(str(ARTIFACTS / "chat-360-dark.png"))

    for name in ("lobby-desktop", "invite-360", "chat-desktop", "chat-360", "chat-360-members",
                 "chat-desktop-dark", "chat-360-dark"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000


def test_the_page_takes_its_message_limit_from_welcome(server_factory, browser):
    # No number is built into the page: a server with a 20-byte limit gets a 20-byte check.
    srv = server_factory(extra_args=["--max-message-bytes", "20"])
    a = browser()
    a.create_room(srv.base_url, "alice")
    refused = "this line is far longer than twenty bytes"
    a.send(refused)
    a.wait(lambda: "at most 20 bytes" in a.d.find_element(By.TAG_NAME, "body").text,
           message="no notice naming the server's limit")
    assert a.count_text(refused) == 0
    assert a.d.execute_script(
        "return Object.keys(localStorage).filter(k => k.includes('outbox')).map(k => localStorage.getItem(k))"
    ) == []
    a.tid("message-input").clear()
    a.send("short one")
    a.wait_message("short one")
    assert a.count_text(refused) == 0


def test_a_message_the_server_refuses_is_dropped_not_resent(server_factory, browser):
    # A line the page cannot judge (text with U+0000) waits in the outbox of a reloaded page: the
    # server refuses it when it is resent, and the page drops it for good.
    srv = server_factory()
    a = browser()
    invite = a.create_room(srv.base_url, "alice")
    code = room_code(invite)
    a.d.execute_script(
        "localStorage.setItem(arguments[0], JSON.stringify([{client_id: 'c0ffee00c0ffee00c0ffee00c0ffee00',"
        " text: 'nul \\u0000 inside', ts: new Date().toISOString()}]))", "parley.outbox." + code)
    a.open(invite)
    if a.tid("nick-input").is_displayed():
        a.set_nick("alice")
        a.tid("join-button").click()
    a.wait_connected()
    a.wait(lambda: a.d.execute_script(
        "return Object.keys(localStorage).filter(k => k.includes('outbox')).length") == 0,
        message="the refused message stayed in the outbox")
    a.send("short one")
    a.wait_message("short one")
    assert all("nul" not in t for _, _, t, _ in a.messages())


def test_client_ids_are_random_128_bit_values(server, browser):
    a = browser()
    code = room_code(a.create_room(server.base_url, "alice"))
    for text in ("one", "two", "three"):
        a.send(text)
        a.wait_message(text)
    with urllib.request.urlopen(f"{server.base_url}/api/rooms/{code}/messages", timeout=10) as resp:
        ids = [m["client_id"] for m in json.loads(resp.read())["messages"]]
    assert len(ids) == 3 and len(set(ids)) == 3
    for client_id in ids:
        assert len(client_id) == 32 and all(c in "0123456789abcdef" for c in client_id)
    assert len({client_id[:8] for client_id in ids}) == 3


@pytest.mark.skipif(Axe is None, reason="axe-selenium-python is not installed (scripts/install-test-deps)")
def test_no_serious_or_critical_accessibility_violations(server, browser):
    # axe-core checks the lobby, an invitation, a room with messages and an empty room, in light and dark
    # mode, at a phone's width and a desktop's: no serious or critical finding anywhere.
    lobby, invited, a, b = browser(), browser(), browser(), browser()
    invite = a.create_room(server.base_url, "Ada", name="Accessibility")
    code = room_code(invite)
    b.join_invite(invite, "Grace")
    lobby.open(server.base_url + "/")
    _, empty = post_json(f"{server.base_url}/api/rooms", {"name": "Nothing yet"})
    invited.open(f"{server.base_url}/r/{empty['code']}")
    post_json(f"{server.base_url}/api/rooms/{code}/messages", {"nick": "Linus", "text": "Notes: https://example.com/notes"})
    a.send("First, from Ada.")
    a.send("Second, grouped under the first.")
    b.send("And one from Grace.")
    b.send("/nick")  # a usage notice, shown as an error line
    a.wait_message("And one from Grace.")
    b.wait_message("And one from Grace.")
    b.d.find_element(By.ID, "nick-edit").click()
    b.type("typing")
    a.wait(lambda: "Grace" in a.tid("typing-indicator").text, message="no typing indicator")

    def check(pages):
        found = []
        for width, height in ((360, 740), (1280, 800)):
            for dark in (False, True):
                for name, page in pages:
                    set_viewport(page, width, height, dark, reduced_motion=True)
                    found += [f"{name} at {width} px, {'dark' if dark else 'light'}: {v}"
                              for v in accessibility_violations(page)]
        return found

    found = check((("lobby", lobby), ("invite", invited), ("room", a), ("room", b)))
    invited.set_nick("Edsger")
    invited.tid("join-button").click()
    invited.wait_connected()
    invited.wait(lambda: invited.d.find_element(By.ID, "empty-state").is_displayed(), message="no empty state")
    found += check((("empty room", invited),))
    assert not found, "\n".join(found)
