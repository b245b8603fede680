"""gunicorn's threaded worker, made to balance requests across the worker processes
(gunicorn.conf.py says why).

`BalancedThreadWorker` serves one request per connection and takes a connection only while one of
its threads is free, so a request waits in the kernel's queue for whichever worker frees a thread
first. Closing a connection gracefully means sending FIN, then reading until the client closes its
side (up to 2 s), so that unread bytes do not make the kernel reset the connection and cut the
response short. gunicorn's gthread worker does that wait on its main loop, where it would hold up
the worker's other connections for a round trip to the client after every request; here a helper
thread of the worker does it.

It relies on ThreadWorker's `finish_request(conn, fs)` closing a finished connection with
`conn.close(graceful=True)`, hence the pin on gunicorn's major version in pyproject.toml.
"""

import contextlib
import functools
import logging
import os
import queue
import selectors
import socket
import threading
import time

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

LINGER_SECONDS = 2.0  # how long to wait for the client's FIN, as gunicorn's own util.close_graceful
LINGER_MAX_BYTES = 65536  # how much unread input to drain before giving up on a client
LINGER_MAX_SOCKETS = 256  # sockets waiting at once; past that the oldest is closed outright (bounds descriptors)

log = logging.getLogger("gunicorn.error")


class GracefulCloser(threading.Thread):
    """Finishes the graceful closes of one worker process: each socket has sent its FIN and is read
    (and what arrives discarded) until the client closes, LINGER_SECONDS pass or LINGER_MAX_BYTES
    arrive; then it is closed."""

    def __init__(self) -> None:
        super().__init__(name="graceful-close", daemon=True)
        self.selector = selectors.DefaultSelector()
        self.arrivals: queue.SimpleQueue[socket.socket] = queue.SimpleQueue()
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_read, False)
        os.set_blocking(self.wake_write, False)
        self.selector.register(self.wake_read, selectors.EVENT_READ)
        self.lingering: dict[socket.socket, tuple[float, int]] = {}  # socket → (deadline, bytes drained)

    def close(self, sock: socket.socket) -> None:
        """Send FIN now (any thread); the rest happens on this one."""
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.setblocking(False)
        except OSError:  # the client is gone already
            util.close(sock)
            return
        self.arrivals.put(sock)
        with contextlib.suppress(BlockingIOError):  # if the pipe is full, a wake-up is pending anyway
            os.write(self.wake_write, b"\0")

    def busy(self) -> bool:
        return bool(self.lingering) or not self.arrivals.empty()

    def run(self) -> None:
        while True:
            try:
                self._wait_once()
            except Exception:  # keep closing sockets whatever one of them did
                log.exception("graceful close failed")

    def _wait_once(self) -> None:
        timeout = None
        if self.lingering:
            timeout = max(0.0, min(deadline for deadline, _ in self.lingering.values()) - time.monotonic())
        for key, _ in self.selector.select(timeout):
            if key.fileobj == self.wake_read:
                self._take_arrivals()
            else:
                self._drain(key.fileobj)
        now = time.monotonic()
        for sock in [sock for sock, (deadline, _) in self.lingering.items() if deadline <= now]:
            self._finish(sock)

    def _take_arrivals(self) -> None:
        try:
            while os.read(self.wake_read, 4096):
                pass
        except BlockingIOError:
            pass
        deadline = time.monotonic() + LINGER_SECONDS
        while True:
            try:
                sock = self.arrivals.get_nowait()
            except queue.Empty:
                return
            try:
                self.selector.register(sock, selectors.EVENT_READ)
            except (OSError, ValueError):
                util.close(sock)
                continue
            self.lingering[sock] = (deadline, 0)
            if len(self.lingering) > LINGER_MAX_SOCKETS:
                self._finish(next(iter(self.lingering)))  # the oldest (dicts keep insertion order)

    def _drain(self, sock: socket.socket) -> None:
        if sock not in self.lingering:  # closed as the oldest earlier in this round of events
            return
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        deadline, drained = self.lingering[sock]
        if not data or drained + len(data) >= LINGER_MAX_BYTES:
            self._finish(sock)
        else:
            self.lingering[sock] = (deadline, drained + len(data))

    def _finish(self, sock: socket.socket) -> None:
        del self.lingering[sock]
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(sock)
        util.close(sock)


class BalancedThreadWorker(ThreadWorker):
    @classmethod
    def check_config(cls, cfg, log) -> None:
        if cfg.keepalive:
            log.warning("BalancedThreadWorker serves one request per connection: keepalive is ignored")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.worker_connections = self.cfg.threads  # a connection only with a thread free to serve it
        self.closer: GracefulCloser | None = None

    def init_process(self) -> None:
        # In the worker process: a kept-alive connection would hold a thread's place while its
        # client thinks (and threads do not survive fork, so the closer starts here too).
        self.cfg.set("keepalive", 0)
        self.closer = GracefulCloser()
        self.closer.start()
        super().init_process()

    def run(self) -> None:
        super().run()
        # The worker is stopping (SIGTERM, reload, max_requests): finish the closes under way
        # before the process ends, or the kernel would reset those connections.
        deadline = time.monotonic() + LINGER_SECONDS
        while self.closer.busy() and time.monotonic() < deadline:
            self.notify()
            time.sleep(0.05)

    def finish_request(self, conn, fs) -> None:
        conn.close = functools.partial(self._close, conn.sock)
        super().finish_request(conn, fs)

    def _close(self, sock: socket.socket, graceful: bool = False) -> None:
        if graceful and self.closer.is_alive():
            self.closer.close(sock)
        else:
            util.close(sock)
