"""A 100 MB file through a real `parley serve`: streamed in and out, so the server's peak memory grows by far
less than the file (§14). Prints the upload and download throughput and the peak RSS for docs/PERFORMANCE.md.

    inmain python3 -m pytest e2e/files -q -s

On PostgreSQL too when PARLEY_TEST_POSTGRES_URL is set (scripts/test starts one).
"""

import hashlib
import http.client
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from parley_server import ParleyServer  # noqa: E402

import pytest  # noqa: E402

SIZE = 100 * 1000 * 1000
POSTGRES = os.environ.get("PARLEY_TEST_POSTGRES_URL")
PIECE = 1 << 20


def peak_rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def pieces():
    # Not all alike, so deduplication cannot hide anything; the same bytes every run.
    block = bytes(range(256)) * (PIECE // 256)
    for n in range(SIZE // PIECE):
        yield block[n % 256:] + block[: n % 256]
    rest = SIZE % PIECE
    if rest:
        yield block[:rest]


@pytest.mark.parametrize("storage", ["sqlite", "postgres"])
def test_a_100_mb_file_is_streamed(tmp_path, storage):
    if storage == "postgres" and not POSTGRES:
        pytest.skip("needs PARLEY_TEST_POSTGRES_URL")
    database = POSTGRES if storage == "postgres" else tmp_path / "files.sqlite"
    server = ParleyServer(database, extra_args=[
        "--max-file-bytes", str(200 * 1000 * 1000), "--max-room-file-bytes", str(400 * 1000 * 1000)])
    server.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
        connection.request("POST", "/api/rooms", body=b"", headers={"Content-Length": "0"})
        room = json.loads(connection.getresponse().read())["code"]
        before = peak_rss_kib(server.proc.pid)

        expected = hashlib.sha256()
        started = time.monotonic()
        connection.putrequest("POST", f"/api/rooms/{room}/files?name=big.bin")
        connection.putheader("Content-Type", "application/octet-stream")
        connection.putheader("Content-Length", str(SIZE))
        connection.endheaders()
        for piece in pieces():
            expected.update(piece)
            connection.send(piece)
        reply = connection.getresponse()
        body = reply.read()
        upload_seconds = time.monotonic() - started
        assert reply.status == 201, body
        url = json.loads(body)["url"]
        after_upload = peak_rss_kib(server.proc.pid)

        started = time.monotonic()
        connection.request("GET", url)
        reply = connection.getresponse()
        assert reply.status == 200
        received = hashlib.sha256()
        count = 0
        while chunk := reply.read(PIECE):
            received.update(chunk)
            count += len(chunk)
        download_seconds = time.monotonic() - started
        after_download = peak_rss_kib(server.proc.pid)
        assert count == SIZE and received.hexdigest() == expected.hexdigest()
        assert reply.getheader("ETag") == f'"{expected.hexdigest()}"'

        mb = SIZE / 1e6
        print(f"\n{storage}: upload {mb / upload_seconds:.0f} MB/s ({upload_seconds:.2f} s), download {mb / download_seconds:.0f} MB/s "
              f"({download_seconds:.2f} s); peak RSS {before // 1024} MiB before, {after_upload // 1024} MiB after the upload, "
              f"{after_download // 1024} MiB after the download")
        # Streaming: the peak grows by a few chunks and buffers, never by the file.
        assert after_download - before < 48 * 1024, (before, after_upload, after_download)
    finally:
        server.stop()
