"""`parley serve` as a subprocess, shared by the end-to-end suites (e2e/browser, e2e/cli).

Each suite's conftest puts this folder on sys.path and imports from here."""

import contextlib
import os
import re
import signal
import socket
import subprocess
import threading
from pathlib import Path

PARLEY_BIN = os.environ.get("PARLEY_BIN", str(Path(__file__).resolve().parents[1] / ".build" / "debug" / "parley"))
LISTENING = re.compile(r"listening on https?://[^\s:]+:(\d+)")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ParleyServer:
    """One `parley serve` on 127.0.0.1 with an SQLite file (or a `postgres://` URL). Port 0 picks a free port on the first start;
    later starts reuse that port and the database, so a test can stop or kill it and bring it back."""

    def __init__(self, database, port=0, extra_args=()):
        self.database = str(database)
        self.port = port
        self.extra_args = list(extra_args)
        self.proc = None
        self.log = []
        self.ended_by_test = False

    @property
    def database_url(self):
        # A PostgreSQL URL as it is; anything else is an SQLite file.
        return self.database if self.database.startswith("postgres://") else f"sqlite:{self.database}"

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    http_url = base_url

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout=30):
        cmd = [PARLEY_BIN, "serve", "--host", "127.0.0.1", "--port", str(self.port),
               "--database", self.database_url, *self.extra_args]
        self.ended_by_test = False
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, errors="replace")
        ready = threading.Event()
        found = {}

        # Drain stderr for the whole life of the process so the pipe never fills up and blocks it.
        def pump(stream):
            for line in stream:
                self.log.append(line.rstrip("\n"))
                match = LISTENING.search(line)
                if match and not ready.is_set():
                    found["port"] = int(match.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=pump, args=(self.proc.stderr,), daemon=True).start()
        if not ready.wait(timeout) or "port" not in found:
            self.kill9()
            raise RuntimeError("parley did not report listening:\n" + "\n".join(self.log[-30:]))
        self.port = found["port"]
        return self

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.ended_by_test = True

    def report_if_died(self):
        """A server that ended while the test still used it shows its last log lines (a crash's backtrace
        among them) in the test's captured output."""
        if self.proc is None or self.ended_by_test or self.proc.poll() is None:
            return
        print(f"parley serve on port {self.port} ended by itself with status {self.proc.returncode}:")
        print("\n".join(self.log[-200:]))

    def stop(self, timeout=15):
        """SIGTERM (a graceful shutdown), then SIGKILL if it overstays."""
        self.ended_by_test = True
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()


@contextlib.contextmanager
def started_servers(folder):
    """Yields `start(*extra_args, port=0, database=None)`: each call starts a server, with a database of
    its own under `folder` unless one is named, and every server started is stopped on exit."""
    started = []

    def start(*extra_args, port=0, database=None):
        if database is None:
            directory = Path(folder) / f"server{len(started)}"
            directory.mkdir()
            database = directory / "parley.sqlite"
        server = ParleyServer(database, port, extra_args)
        started.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in started:
            server.report_if_died()
            server.stop()
