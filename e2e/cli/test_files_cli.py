"""`parley chat` and files (PROTOCOL.md §14): /upload PATH [TEXT] with a progress line, and attachments shown by
name, size and URL in the sender's and another client's output; the bytes behind the URL are the file's."""

import re
import urllib.request

TIME = r"\d\d:\d\d:\d\d"


def test_upload_sends_the_file_and_both_clients_show_it(server, clients, tmp_path):
    picture = tmp_path / "holiday photo.png"
    picture.write_bytes(bytes(range(256)) * 4000)  # 1,024,000 bytes
    alice = clients(server.ws_url, "--room", "files", "--nick", "alice")
    alice.err.wait_for("connected to room files as alice")
    bob = clients(server.ws_url, "--room", "files", "--nick", "bob")
    bob.err.wait_for("connected to room files as bob")

    alice.send(f"/upload \"{picture}\" look at this")
    alice.err.wait_for(r"uploading .*\(100%\)")
    alice.out.wait_for(rf"^{TIME} <alice>\* look at this$")
    line = bob.out.lines[bob.out.wait_for(r"^ +\[file\] holiday photo\.png \(1\.0 MB\) http://127\.0\.0\.1:\d+/files/[0-9a-f]{32}/holiday%20photo\.png$")]
    url = re.search(r"http://\S+", line).group(0)
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.read() == picture.read_bytes()
        assert answer.headers["Content-Type"] == "image/png"

    # Without text, and a path that cannot be read.
    alice.send(f"/upload \"{picture}\"")
    bob.out.wait_for(rf"^{TIME} <alice> $")
    alice.send(f"/upload {tmp_path / 'missing.bin'}")
    alice.err.wait_for(r"upload failed: cannot read .*missing\.bin")
    alice.send("/upload")
    alice.err.wait_for(r"usage: /upload PATH \[TEXT\]")
