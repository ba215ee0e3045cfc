"""HTTP/1.1 keep-alive for the stack's WSGI server.

Werkzeug's development server closes the connection after every response ("Connection: close"), so each request
pays a TCP connect, a new server thread and, on the client side, socket setup: about half of a small PUT's cost
through this stack. SDK clients pool connections and expect to reuse them, as they do with AWS. This handler keeps
werkzeug's request parsing and moto's environ (``MotoRequestHandler``) and replaces only the response path:

* the request body is exposed as a stream limited to Content-Length, so no reader can run into the next request;
* after the response, whatever the application left unread of the body is drained; a body too large to drain,
  a chunked one, or an application error closes the connection instead;
* a response without Content-Length is buffered and given one (moto builds its bodies in memory anyway).

The server remembers its open connections so that ``close_connections`` (called on stop) ends idle keep-alive
sessions: a client must not keep talking to a stopped stack's threads.
"""
from __future__ import annotations

import itertools
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.serving import ThreadedWSGIServer

log = logging.getLogger("local_aws")

IDLE_TIMEOUT_SECONDS = 120  # an idle pooled connection's server thread ends after this
MAX_DRAIN_BYTES = 16 * 1024 * 1024  # an unread body larger than this ends the connection instead
NO_BODY_STATUSES = {204, 304}


class LimitedInput:
    """The request body: at most ``length`` bytes of ``stream``, counting what was read."""

    def __init__(self, stream: Any, length: int):
        self._stream, self.remaining = stream, length

    def read(self, size: int | None = -1) -> bytes:
        return self._take(self._stream.read, size)

    def readline(self, size: int | None = -1) -> bytes:
        return self._take(self._stream.readline, size)

    def _take(self, reader: Callable[[int], bytes], size: int | None) -> bytes:
        if size is None or size < 0 or size > self.remaining:
            size = self.remaining
        data = reader(size) if size else b""
        self.remaining -= len(data)
        return data

    def readlines(self, hint: int = -1) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self):
        return iter(self.readline, b"")

    def drain(self) -> bool:
        """Reads and drops what is left; False when it is too much (the connection must close instead)."""
        if self.remaining > MAX_DRAIN_BYTES:
            return False
        while self.remaining and self.read(1024 * 1024):
            pass
        return not self.remaining


class KeepAliveRequestHandler(MotoRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_SECONDS
    # The headers and the body leave in two writes. With Nagle's algorithm the body then waits for the client's
    # ACK of the headers, which Linux delays up to 40 ms on a kept-alive connection: every GET with a body paid it.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def run_wsgi(self) -> None:
        environ = self.make_environ()
        chunked = environ.get("wsgi.input_terminated", False)
        body = None
        if not chunked:
            body = LimitedInput(environ["wsgi.input"], _content_length(environ))
            environ["wsgi.input"] = body
        self._headers_sent = False
        response: dict[str, Any] = {}
        written: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            if exc_info and self._headers_sent:
                raise exc_info[1].with_traceback(exc_info[2])
            response.update(status=status, headers=list(headers))
            return written.append  # the legacy write() callable

        try:
            result = self.server.app(environ, start_response)
            try:
                self._respond(environ["REQUEST_METHOD"], response, written, result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        except (TimeoutError, ConnectionError):
            self.close_connection = True
            return
        except Exception:  # the app answers AWS errors itself; this is a bug, logged, and the connection ends
            log.exception("Error answering %s %s", self.command, self.path)
            self.close_connection = True
            if not self._headers_sent:
                self._send(500, "Internal Server Error", [("Content-Length", "0")], [])
            return
        if chunked or not body.drain():
            self.close_connection = True

    def _respond(self, method: str, response: dict[str, Any], written: list[bytes], result: Iterable[bytes]) -> None:
        chunks = iter(result)
        first = next(chunks, b"")  # start_response has been called by now
        code_text, _, message = response["status"].partition(" ")
        code, headers = int(code_text), response["headers"]
        has_length = any(name.lower() == "content-length" for name, _ in headers)
        bodiless = method == "HEAD" or code in NO_BODY_STATUSES or code < 200
        if bodiless:
            self._send(code, message, headers, [])
        elif has_length:
            self._send(code, message, headers, itertools.chain(written, [first], chunks))
        else:
            data = b"".join([*written, first, *chunks])
            self._send(code, message, [*headers, ("Content-Length", str(len(data)))], [data])

    def _send(self, code: int, message: str, headers: list[tuple[str, str]], chunks: Iterable[bytes]) -> None:
        self.send_response(code, message)
        for name, value in headers:
            if name.lower() != "connection":
                self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self._headers_sent = True
        for chunk in chunks:
            if chunk:
                self.wfile.write(chunk)
        self.wfile.flush()


class KeepAliveServer(ThreadedWSGIServer):
    """Werkzeug's threaded server with keep-alive handlers and a registry of open connections."""

    def __init__(self, host: str, port: int, app: Any):
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(host, port, app, handler=KeepAliveRequestHandler)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the client


def _content_length(environ: dict[str, Any]) -> int:
    try:
        return max(int(environ.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0
