"""The sharing endpoint in a background thread of this process (the demo, tests): uvicorn on a loopback port."""

from __future__ import annotations

import socket
import threading
from typing import Any

import uvicorn

from stm.errors import JobFailed


class ServerThread:
    """uvicorn in a background thread on a socket bound (and listening) before start: no start-up race."""

    def __init__(self, app: Any, port: int = 0) -> None:
        """``port`` 0: any free port."""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/delta-sharing"

    def start(self) -> ServerThread:
        self.thread.start()
        for _ in range(1000):  # bounded: at most ~10 s
            if self.server.started:
                return self
            self.thread.join(0.01)
        raise JobFailed(f"the sharing endpoint on port {self.port} did not start within 10 s")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
