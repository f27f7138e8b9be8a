"""Fixtures for driving the real `parley` binary: servers on free ports, chat clients over pipes."""

import os
import sys
import re
import subprocess
import threading
import time

from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from parley_server import PARLEY_BIN, ParleyServer as Server, free_port, started_servers  # noqa: E402  (shared by the suites)


class Lines:
    """Collects the lines of one stream on a thread, so tests can wait for output without sleeping."""

    def __init__(self, stream):
        self.lines = []
        self.closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream):
        for raw in iter(stream.readline, b""):
            with self._cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def wait_for(self, pattern, timeout=15, start=0):
        """Returns the index of the first line from `start` matching `pattern`; fails after `timeout` s."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for index in range(start, len(self.lines)):
                    if regex.search(self.lines[index]):
                        return index
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed:
                    raise AssertionError(f"no line matching {pattern!r} within {timeout}s; got:\n" + "\n".join(self.lines))
                self._cond.wait(remaining)

    def join(self, timeout=10):
        self._thread.join(timeout)

    @property
    def text(self):
        with self._cond:
            return "\n".join(self.lines)


class Client:
    """`parley chat` with stdin, stdout and stderr on pipes."""

    def __init__(self, args, env=None):
        self.process = subprocess.Popen([PARLEY_BIN, "chat", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, env=env)
        self.out = Lines(self.process.stdout)
        self.err = Lines(self.process.stderr)

    def send(self, line):
        self.process.stdin.write((line + "\n").encode())
        self.process.stdin.flush()

    def finish(self, timeout=20):
        """Closes stdin and returns the exit status."""
        self.process.stdin.close()
        status = self.process.wait(timeout=timeout)
        self.out.join()
        self.err.join()
        return status

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)


def run_parley(*args, input_text="", timeout=30, env=None):
    """Runs `parley ARGS…` to completion; returns the CompletedProcess (text mode)."""
    return subprocess.run([PARLEY_BIN, *args], input=input_text, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture
def make_server(tmp_path):
    with started_servers(tmp_path) as start:
        yield start


@pytest.fixture
def server(make_server):
    return make_server()


@pytest.fixture
def clients():
    started = []

    def start(*args, env=None):
        client = Client(list(args), env=env)
        started.append(client)
        return client

    yield start
    for client in started:
        client.kill()
