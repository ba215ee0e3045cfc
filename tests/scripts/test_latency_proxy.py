"""scripts.latency_proxy: the relay make bench-backup puts between every S3 client and the local endpoint adds the
round trip to each request and holds all connections together to its bandwidth cap."""
from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from scripts.latency_proxy import ProxyProcess


class Echo(socketserver.BaseRequestHandler):
    """Answers each message at once: any time a request takes beyond that is the relay's."""

    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


class Sink(socketserver.BaseRequestHandler):
    """Reads until the client's EOF, then answers with the number of bytes it got."""

    def handle(self) -> None:
        total = 0
        while data := self.request.recv(1 << 20):
            total += len(data)
        self.request.sendall(str(total).encode())


@pytest.fixture()
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), request.param) as srv:
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        yield f"127.0.0.1:{srv.server_address[1]}"
        srv.shutdown()


def connect(endpoint: str) -> socket.socket:
    host, port = endpoint.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def sequential_requests(endpoint: str, count: int) -> float:
    """Seconds for ``count`` request/response exchanges, one after the other, on one new connection."""
    started = time.perf_counter()
    with connect(endpoint) as sock:
        for index in range(count):
            message = f"request {index}".encode()
            sock.sendall(message)
            assert sock.recv(100) == message
    return time.perf_counter() - started


def upload(endpoint: str, size: int) -> int:
    with connect(endpoint) as sock:
        sock.sendall(b"x" * size)
        sock.shutdown(socket.SHUT_WR)
        return int(sock.recv(100))


@pytest.mark.parametrize("server", [Echo], indirect=True)
def test_each_sequential_request_waits_at_least_the_round_trip(server: str) -> None:
    with ProxyProcess(server, rtt_ms=0) as direct:
        unshaped = sequential_requests(direct.endpoint, 5)
    with ProxyProcess(server, rtt_ms=60) as proxy:
        shaped = sequential_requests(proxy.endpoint, 5)
        cpu = proxy.cpu()
    # One round trip of handshake, then one per exchange; nothing earlier than that can arrive.
    assert shaped >= 6 * 0.060
    assert shaped < 6 * 0.060 + 1.0
    assert unshaped < shaped - 0.2
    assert 0 <= cpu < 5
    assert proxy.final_report.startswith("cpu_seconds=")
    assert "connections=1 bytes_up=" in proxy.final_report


@pytest.mark.parametrize("server", [Sink], indirect=True)
def test_the_cap_holds_all_connections_together_to_its_rate(server: str) -> None:
    size = 1_000_000
    with ProxyProcess(server, rtt_ms=0) as uncapped:
        started = time.perf_counter()
        assert upload(uncapped.endpoint, size) == size
        free = time.perf_counter() - started
    # 16 Mbit/s = 2 MB/s: one 1 MB upload takes 0.5 s, two at once share the line and take 1 s together.
    with ProxyProcess(server, rtt_ms=0, cap_mbps=16, window_kib=256) as capped:
        started = time.perf_counter()
        assert upload(capped.endpoint, size) == size
        one = time.perf_counter() - started
        results: list[int] = []
        threads = [threading.Thread(target=lambda: results.append(upload(capped.endpoint, size))) for _ in range(2)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        two = time.perf_counter() - started
    assert results == [size, size]
    assert 0.5 * 0.95 <= one < 0.5 + 1.0
    assert 1.0 * 0.95 <= two < 1.0 + 1.0
    assert free < one / 2
