"""Living messages in the web UI (PROTOCOL.md §11, §15): reply, edit, delete, react and search, driven
through the page like a user would (mouse and keyboard), against the real server."""

import json
import urllib.parse
import urllib.request

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from browser_support import ARTIFACTS, Axe, accessibility_violations, set_viewport


def post_json(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def room_code(invite_url):
    return invite_url.rsplit("/r/", 1)[1]


def until(page, condition, message):
    """Waits for `condition`; a redraw in between (elements replaced) just means "not yet"."""
    def check():
        try:
            return condition()
        except (StaleElementReferenceException, AssertionError):
            return False
    page.wait(check, message=message)


def node(page, text):
    """The message element whose text starts with `text` (looked up again if a redraw replaced one meanwhile)."""
    for _ in range(5):
        try:
            for element in page.d.find_elements(By.CSS_SELECTOR, '#messages [data-testid="message"]'):
                if element.find_element(By.CSS_SELECTOR, ".msg-text").text.startswith(text):
                    return element
            break
        except StaleElementReferenceException:
            continue
    raise AssertionError(f"no message {text!r}")


def action(page, text, name):
    """Hovers over a message (its actions show on hover) and clicks one of them."""
    for attempt in range(3):
        try:
            message = node(page, text)
            ActionChains(page.d).move_to_element(message).perform()
            button = message.find_element(By.CSS_SELECTOR, f'[data-testid="{name}"]')
            page.wait(button.is_displayed, message=f"{name} not shown on hover")
            button.click()
            return
        except StaleElementReferenceException:
            if attempt == 2:
                raise


def reactions(page, text):
    """{emoji: (count, who, pressed)} of a message."""
    return page.d.execute_script("""
        const out = {};
        for (const b of arguments[0].querySelectorAll('[data-testid="reaction"]')) {
          out[b.dataset.emoji] = [Number(b.querySelector('.reaction-count').textContent), b.title, b.getAttribute('aria-pressed')];
        }
        return out;""", node(page, text))


def text_of(page, text):
    return page.d.execute_script("""
        const body = Array.from(document.querySelectorAll('#messages .msg-text')).find(b => b.textContent.startsWith(arguments[0]));
        return body ? body.textContent : null;""", text)


def test_reply_edit_react_and_delete_between_two_browsers(server, browser):
    a, b = browser(), browser()
    invite = a.create_room(server.base_url, "Ada")
    b.join_invite(invite, "Grace")
    a.send("the plan is ready")
    b.wait_message("the plan is ready")

    # Reply: Grace clicks Reply, the composer says so, and Enter sends the reply.
    action(b, "the plan is ready", "reply-button")
    b.wait(lambda: b.tid("composer-context").is_displayed(), message="no reply banner")
    assert "Replying to Ada" in b.tid("composer-context").text
    b.send("great, reading it")
    a.wait_message("great, reading it", nick="Grace")
    quote = node(a, "great, reading it").find_element(By.CSS_SELECTOR, '[data-testid="reply-preview"]')
    assert "Ada" in quote.text and "the plan is ready" in quote.text
    assert not b.tid("composer-context").is_displayed()
    quote.click()  # jumps to the original
    until(a, lambda: "flash" in node(a, "the plan is ready").get_attribute("class"), message="no jump")

    # Edit: the up arrow takes Ada's last message into the composer; Escape cancels, Enter saves.
    box = a.tid("message-input")
    box.send_keys(Keys.ARROW_UP)
    a.wait(lambda: box.get_attribute("value") == "the plan is ready", message="up arrow did not start an edit")
    assert "Editing" in a.tid("composer-context").text
    box.send_keys(Keys.ESCAPE)
    assert box.get_attribute("value") == "" and not a.tid("composer-context").is_displayed()
    box.send_keys(Keys.ARROW_UP)
    box.send_keys(Keys.END, " (v2)", Keys.ENTER)
    for page in (a, b):
        until(page, lambda p=page: text_of(p, "the plan is ready") == "the plan is ready (v2) (edited)", message="edit not shown")
    assert node(b, "the plan is ready").find_elements(By.CSS_SELECTOR, '[data-testid="edited-mark"]')
    assert "the plan is ready (v2)" in node(b, "great, reading it").find_element(By.CSS_SELECTOR, ".reply-preview").text

    # React: Grace picks 👍 from the picker and types 🦀; Ada toggles 👍 on and off by clicking it.
    action(b, "the plan is ready", "react-button")
    b.wait(lambda: b.tid("react-picker").is_displayed(), message="no picker")
    b.d.find_element(By.CSS_SELECTOR, '.react-choice[data-emoji="👍"]').click()
    action(b, "the plan is ready", "react-button")
    b.tid("react-input").send_keys("🦀", Keys.ENTER)
    until(a, lambda: reactions(a, "the plan is ready") == {"👍": [1, "Grace", "false"], "🦀": [1, "Grace", "false"]},
           message="reactions not shown")
    node(a, "the plan is ready").find_element(By.CSS_SELECTOR, '[data-emoji="👍"]').click()
    until(b, lambda: reactions(b, "the plan is ready").get("👍") == [2, "Grace, Ada", "true"], message="reaction not added")
    node(a, "the plan is ready").find_element(By.CSS_SELECTOR, '[data-emoji="👍"]').click()
    until(b, lambda: reactions(b, "the plan is ready").get("👍") == [1, "Grace", "true"], message="reaction not removed")

    # Delete, after a confirmation that can be refused.
    action(a, "the plan is ready", "delete-button")
    a.d.switch_to.alert.dismiss()
    action(a, "the plan is ready", "delete-button")
    a.d.switch_to.alert.accept()
    for page in (a, b):
        page.wait(lambda p=page: p.d.find_elements(By.CSS_SELECTOR, '#messages [data-testid="deleted-mark"]'),
                  message="deletion not shown")
        assert "deleted message" in node(page, "great, reading it").find_element(By.CSS_SELECTOR, ".reply-preview").text
    assert not b.d.find_elements(By.CSS_SELECTOR, '#messages [data-testid="reaction"]')
    # Only your own messages offer edit and delete.
    assert not node(a, "great, reading it").find_elements(By.CSS_SELECTOR, '[data-testid="edit-button"]')


def quiet_server(server_factory):
    return server_factory(extra_args=["--http-rate-per-second", "0"])


def test_a_reply_to_a_message_not_loaded_fetches_it_and_jumps_to_it(server_factory, browser):
    srv = quiet_server(server_factory)
    code = post_json(f"{srv.base_url}/api/rooms", {})["code"]
    post_json(f"{srv.base_url}/api/rooms/{code}/messages", {"nick": "Linus", "text": "the very first word"})
    for i in range(60):
        post_json(f"{srv.base_url}/api/rooms/{code}/messages", {"nick": "Linus", "text": f"filler {i}"})
    a = browser()
    a.join_invite(f"{srv.base_url}/r/{code}", "Ada")
    a.wait_message("filler 59")
    assert not any(t == "the very first word" for _, _, t, _ in a.messages())
    # Another client replies to message 1 over its own socket.
    a.d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const ws = new WebSocket(`ws://${location.host}/ws?room=${arguments[0]}&nick=Linus`);
        ws.onmessage = (e) => { if (JSON.parse(e.data).type === 'welcome') { ws.send(JSON.stringify({type: 'message', text: 'about that', reply_to: 1})); done(); } };
    """, code)
    a.wait_message("about that", nick="Linus")
    def quote():
        return node(a, "about that").find_element(By.CSS_SELECTOR, '[data-testid="reply-preview"]')
    until(a, lambda: "the very first word" in quote().text, message="the quoted message was not fetched")
    quote().click()
    a.wait(lambda: any(t == "the very first word" for _, _, t, _ in a.messages()), message="jump did not load it")
    a.wait(lambda: a.d.execute_script("return document.activeElement.dataset.id") == "1", message="not focused")


def test_search_finds_and_jumps_to_the_message_in_context(server_factory, browser):
    srv = quiet_server(server_factory)
    code = post_json(f"{srv.base_url}/api/rooms", {})["code"]
    post_json(f"{srv.base_url}/api/rooms/{code}/messages", {"nick": "Linus", "text": "Crème brûlée recipe"})
    for i in range(70):
        post_json(f"{srv.base_url}/api/rooms/{code}/messages", {"nick": "Linus", "text": f"filler {i}"})
    a = browser()
    set_viewport(a, 360, 740)
    a.join_invite(f"{srv.base_url}/r/{code}", "Ada")
    a.wait_message("filler 69")
    a.d.find_element(By.ID, "members-toggle").click()  # search lives in the drawer at 360 px
    a.wait(lambda: a.tid("search-input").is_displayed(), message="no search box")
    a.tid("search-input").send_keys("creme bru", Keys.ENTER)
    a.wait(lambda: len(a.d.find_elements(By.CSS_SELECTOR, '[data-testid="search-result"]')) == 1, message="no result")
    result = a.tid("search-result")
    assert "Crème brûlée recipe" in result.text
    result.send_keys(Keys.ENTER)  # by keyboard
    a.wait(lambda: a.d.execute_script("return document.activeElement.dataset.id") == "1", message="did not jump")
    assert not a.tid("member-list").is_displayed(), "the drawer closes to show the message"
    assert a.d.execute_script("return document.documentElement.scrollWidth") <= 360

    # Pages further back: 70 fillers, 20 at a time, newest first, none twice.
    a.d.find_element(By.ID, "members-toggle").click()
    a.wait(lambda: a.tid("search-input").is_displayed(), message="no search box")
    a.tid("search-input").clear()
    a.tid("search-input").send_keys("filler", Keys.ENTER)

    def targets():
        return [int(b.get_attribute("data-target")) for b in a.d.find_elements(By.CSS_SELECTOR, '[data-testid="search-result"]')]
    until(a, lambda: len(targets()) == 20, message="no first page")
    assert a.tid("search-status").text == "20+ found, newest first"
    for shown in (40, 60, 70):
        a.tid("search-more").click()
        until(a, lambda n=shown: len(targets()) == n, message=f"no page up to {shown}")
    assert targets() == list(range(71, 1, -1))
    assert not a.tid("search-more").is_displayed()


def test_resume_applies_changes_made_while_away(server_factory, browser, tmp_path):
    # A page that was away while messages were edited, deleted and reacted to ends with the same view
    # as a page that loads the room fresh: the resume sends since and rev and applies the updates.
    from browser_support import free_port
    port = free_port()
    database = str(tmp_path / "resume.sqlite")
    srv = quiet_server_at(server_factory, port, database)
    a, b = browser(), browser()
    invite = a.create_room(srv.base_url, "Ada")
    b.join_invite(invite, "Grace")
    for text in ("one", "two", "three"):
        b.send(text)
    a.wait_message("three")

    # Ada's page cannot reach the server for a while.
    a.d.execute_cdp_cmd("Network.enable", {})
    a.d.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/ws?*"]})
    srv.stop()
    a.wait(lambda: a.status() != "connected", message="still connected")
    srv = quiet_server_at(server_factory, port, database)
    b.wait_connected(timeout=30)
    box = b.tid("message-input")
    box.send_keys(Keys.ARROW_UP, Keys.END, " edited", Keys.ENTER)  # "three" → "three edited"
    action(b, "one", "react-button")
    b.d.find_element(By.CSS_SELECTOR, '.react-choice[data-emoji="🎉"]').click()
    action(b, "two", "delete-button")
    b.d.switch_to.alert.accept()
    b.send("four")
    b.wait(lambda: b.d.find_elements(By.CSS_SELECTOR, '#messages [data-testid="deleted-mark"]'), message="no delete")

    a.d.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
    a.wait_connected(timeout=30)
    a.wait_message("four")
    fresh = browser()
    fresh.join_invite(invite, "Edsger")
    fresh.wait_message("four")
    a.wait(lambda: a.messages() == fresh.messages(), message=f"views differ:\n{a.messages()}\n{fresh.messages()}")
    assert reactions(a, "one") == reactions(fresh, "one")


def quiet_server_at(server_factory, port, database):
    return server_factory(port=port, database=database, extra_args=["--http-rate-per-second", "0"])


def test_living_controls_have_no_serious_or_critical_accessibility_violations(server, browser):
    # The new controls as a user meets them — a reply, marks, reactions, the actions of a focused message,
    # the picker, the reply banner, search results, a mention, the "new messages" divider — at a phone's
    # width and a desktop's, light and dark.
    import pytest
    if Axe is None:
        pytest.skip("axe-selenium-python is not installed")
    a, b = browser(), browser()
    invite = a.create_room(server.base_url, "Ada", name="Living")
    code = room_code(invite)
    b.join_invite(invite, "Grace")
    a.send("first thought")
    a.send("second thought, to be deleted")
    b.wait_message("second thought, to be deleted")
    action(b, "first thought", "reply-button")
    b.send("@Ada agreed")
    a.wait_message("@Ada agreed")
    action(a, "first thought", "react-button")
    a.d.find_element(By.CSS_SELECTOR, '.react-choice[data-emoji="🎉"]').click()
    box = a.tid("message-input")
    box.send_keys(Keys.ARROW_UP)
    a.wait(lambda: box.get_attribute("value") != "", message="no edit")
    box.send_keys(Keys.ESCAPE)
    action(a, "second thought", "delete-button")
    a.d.switch_to.alert.accept()
    action(a, "first thought", "edit-button")
    box.send_keys(" (revised)", Keys.ENTER)
    b.wait(lambda: b.d.find_elements(By.CSS_SELECTOR, '#messages [data-testid="edited-mark"]'), message="no edit mark")
    b.wait(lambda: b.d.find_elements(By.CSS_SELECTOR, '#messages [data-testid="deleted-mark"]'), message="no delete mark")
    # A divider where Grace left: her tab hides, Ada writes, the tab comes back.
    b.d.execute_script("Object.defineProperty(document, 'hidden', {configurable: true, get: () => true})")
    a.send("while you were away")
    b.wait_message("while you were away")
    b.wait(lambda: b.d.title.startswith("(1)"), message="no unread count in the title")
    b.d.execute_script("delete document.hidden; document.dispatchEvent(new Event('visibilitychange'))")
    assert b.tid("new-messages-divider").is_displayed()
    assert a.d.find_elements(By.CSS_SELECTOR, "#messages .mention-me"), "Ada's own nick is highlighted"
    # Open states: Grace's search results, the picker, and the reply banner with a focused message's actions.
    action(b, "first thought", "react-button")
    a.tid("search-input").send_keys("thought", Keys.ENTER)
    a.wait(lambda: a.d.find_elements(By.CSS_SELECTOR, '[data-testid="search-result"]'), message="no results")
    action(a, "@Ada agreed", "reply-button")
    node(a, "@Ada agreed").find_element(By.CSS_SELECTOR, '[data-testid="reply-button"]').send_keys(Keys.SHIFT)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    found = []
    for width, height in ((360, 740), (1280, 800)):
        for dark in (False, True):
            for name, page in (("Ada", a), ("Grace", b)):
                set_viewport(page, width, height, dark, reduced_motion=True)
                page.d.save_screenshot(str(ARTIFACTS / f"living-{name}-{width}{'-dark' if dark else ''}.png"))
                found += [f"{name} at {width} px, {'dark' if dark else 'light'}: {v}" for v in accessibility_violations(page)]
    assert not found, "\n".join(found)
    assert code


def test_reply_react_edit_and_delete_by_keyboard_on_a_phone_in_dark_mode(server, browser):
    a, b = browser(), browser()
    invite = a.create_room(server.base_url, "Ada")
    set_viewport(b, 360, 740, dark=True)
    b.join_invite(invite, "Grace")
    a.send("keyboard only")
    b.wait_message("keyboard only")

    def focused():
        return b.d.execute_script("return document.activeElement.dataset.testid || document.activeElement.id")

    # From the message list, Tab reaches the message's actions; Enter presses them.
    b.tid("message-list").send_keys(Keys.TAB)
    assert focused() == "reply-button"
    b.d.switch_to.active_element.send_keys(Keys.ENTER)
    b.wait(lambda: focused() == "message-input", message="reply did not focus the composer")
    b.d.switch_to.active_element.send_keys("typed reply", Keys.ENTER)
    a.wait_message("typed reply", nick="Grace")

    b.tid("message-list").send_keys(Keys.TAB, Keys.TAB)
    assert focused() == "react-button"
    b.d.switch_to.active_element.send_keys(Keys.ENTER)
    b.wait(lambda: b.tid("react-picker").is_displayed(), message="no picker")
    b.d.switch_to.active_element.send_keys(Keys.ESCAPE)  # Escape closes it and gives focus back
    b.wait(lambda: not b.tid("react-picker").is_displayed() and focused() == "react-button", message="picker stuck")
    b.d.switch_to.active_element.send_keys(Keys.ENTER)
    b.wait(lambda: b.tid("react-picker").is_displayed(), message="no picker")
    b.d.switch_to.active_element.send_keys(Keys.TAB, Keys.ENTER)  # the second choice, ❤️
    until(a, lambda: reactions(a, "keyboard only") == {"❤️": [1, "Grace", "false"]}, message="no reaction")
    until(b, lambda: reactions(b, "keyboard only") == {"❤️": [1, "Grace", "true"]}, message="no reaction")
    assert focused() == "react-button", "the redrawn message keeps the focus where it was"
    # The reaction itself is a toggle button.
    reaction = node(b, "keyboard only").find_element(By.CSS_SELECTOR, '[data-testid="reaction"]')
    b.d.execute_script("arguments[0].focus()", reaction)
    b.d.switch_to.active_element.send_keys(Keys.SPACE)
    until(a, lambda: reactions(a, "keyboard only") == {}, message="reaction not taken back")

    # Grace's own reply: edit and delete from its action buttons.
    edit = node(b, "typed reply").find_element(By.CSS_SELECTOR, '[data-testid="edit-button"]')
    b.d.execute_script("arguments[0].focus()", edit)
    b.d.switch_to.active_element.send_keys(Keys.ENTER)
    b.wait(lambda: focused() == "message-input", message="edit did not focus the composer")
    b.d.switch_to.active_element.send_keys(" (fixed)", Keys.ENTER)
    a.wait(lambda: text_of(a, "typed reply") == "typed reply (fixed) (edited)", message="edit not shown")
    # Grace's page redraws the edited message too: wait for that before taking its delete button.
    b.wait(lambda: text_of(b, "typed reply") == "typed reply (fixed) (edited)", message="edit not shown to its author")
    remove = node(b, "typed reply").find_element(By.CSS_SELECTOR, '[data-testid="delete-button"]')
    b.d.execute_script("arguments[0].focus()", remove)
    b.d.switch_to.active_element.send_keys(Keys.ENTER)
    b.d.switch_to.alert.accept()
    a.wait(lambda: a.d.find_elements(By.CSS_SELECTOR, '#messages [data-testid="deleted-mark"]'), message="not deleted")
    assert b.d.execute_script("return document.documentElement.scrollWidth") <= 360


def test_a_mention_in_a_hidden_tab_notifies_after_permission_was_asked_from_a_click(server, browser):
    a, b = browser(), browser()
    invite = a.create_room(server.base_url, "Ada")
    b.join_invite(invite, "Grace")
    # The browser's Notification, recorded instead of shown: permission "default" until asked.
    b.d.execute_script("""
        window.__notes = []; window.__asked = 0;
        window.Notification = class {
          static permission = 'default';
          static async requestPermission() { window.__asked += 1; this.permission = 'granted'; return 'granted'; }
          constructor(title, options) { window.__notes.push([title, options.body]); }
          close() {}
        };""")
    assert b.d.execute_script("return window.__asked") == 0, "never asked unprompted"
    b.tid("notify-button").click()
    b.wait(lambda: not b.tid("notify-button").is_displayed(), message="the button stays after permission was given")
    assert b.d.execute_script("return window.__asked") == 1

    b.d.execute_script("Object.defineProperty(document, 'hidden', {configurable: true, get: () => true})")
    a.send("no mention here")
    a.send("@grace can you look?")
    b.wait_message("@grace can you look?")
    b.wait(lambda: b.d.execute_script("return window.__notes.length") == 1, message="no notification")
    assert b.d.execute_script("return window.__notes") == [["Ada mentioned you", "@grace can you look?"]]
    assert b.d.title.startswith("(2) ")
    b.d.execute_script("delete document.hidden; document.dispatchEvent(new Event('visibilitychange'))")
    b.wait(lambda: not b.d.title.startswith("("), message="unread count not cleared")
    # The divider sits above the first message that arrived while away.
    assert b.d.execute_script("""
        const divider = document.querySelector('[data-testid="new-messages-divider"]');
        return divider.nextElementSibling.querySelector('.msg-text').textContent;""") == "no mention here"
