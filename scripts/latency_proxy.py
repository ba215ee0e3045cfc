"""A TCP relay that models a network between S3 clients and an endpoint: round-trip latency and a bandwidth cap.

Each direction of each connection is delayed by half the round trip, in order (bytes read at time t are written
at t + RTT/2, never before bytes read earlier). A new connection's first bytes also wait one more round trip, the
TCP handshake a client pays before it can send. With a cap, all connections share one link per direction: bytes
are serialized onto it at the cap's rate (a virtual clock, so a queue of waiting bytes behaves as a link's queue)
and then travel RTT/2. Each connection buffers at most a window of bytes per direction (TCP's send window: one
stream moves at most window/RTT); past it the relay stops reading, and the sender's kernel buffers fill and block.

It parses nothing (no HTTP): on two cores a Python HTTP proxy would become the limit; copying bytes costs little,
and its CPU is reported (printed at exit, and readable from /proc by whoever started it) so a bench can see
whether it was. Not modelled: loss, jitter, TCP slow start, TLS handshakes (plain HTTP to the endpoint).

    python -m scripts.latency_proxy --target 127.0.0.1:4566 --rtt-ms 20 [--cap-mbps 400] [--port 0]

prints ``listening on 127.0.0.1:<port>`` once ready and, on SIGTERM or SIGINT, ``cpu_seconds=<s> connections=<n>
bytes_up=<n> bytes_down=<n>``.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

CHUNK = 64 * 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


class Link:
    """One direction of the modelled network, shared by every connection: a serial line at ``rate`` bytes/s (None:
    unlimited) followed by ``delay`` seconds of propagation."""

    def __init__(self, delay: float, rate: float | None):
        self.delay, self.rate = delay, rate
        self.free_at = 0.0  # when the line has sent every byte handed to it so far
        self.bytes = 0

    def arrival(self, size: int, now: float) -> float:
        """When ``size`` bytes handed to the link at ``now`` reach the far side."""
        self.bytes += size
        if self.rate is None:
            return now + self.delay
        self.free_at = max(now, self.free_at) + size / self.rate
        return self.free_at + self.delay


@dataclass
class Pipe:
    """One direction of one connection: reads, stamps each chunk with its arrival time, writes it then."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    link: Link
    window: int
    handshake: float = 0.0  # extra wait of the first bytes
    queue: asyncio.Queue[tuple[float, bytes]] = field(default_factory=asyncio.Queue)
    room: asyncio.Event = field(default_factory=asyncio.Event)
    buffered: int = 0

    async def pump_in(self) -> None:
        loop = asyncio.get_running_loop()
        self.room.set()
        last = 0.0
        while True:
            await self.room.wait()
            chunk = await self.reader.read(CHUNK)
            last = max(last, self.link.arrival(len(chunk), loop.time()) + self.handshake)
            self.handshake = 0.0
            self.queue.put_nowait((last, chunk))
            if not chunk:
                return
            self.buffered += len(chunk)
            if self.buffered >= self.window:
                self.room.clear()

    async def pump_out(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, chunk = await self.queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not chunk:
                if self.writer.can_write_eof():
                    self.writer.write_eof()
                return
            self.writer.write(chunk)
            await self.writer.drain()
            self.buffered -= len(chunk)
            if self.buffered < self.window:
                self.room.set()


class Relay:
    def __init__(self, target: tuple[str, int], rtt: float, rate: float | None, window: int):
        self.target, self.rtt, self.window = target, rtt, window
        self.up, self.down = Link(rtt / 2, rate), Link(rtt / 2, rate)
        self.connections = 0
        self.open: set[asyncio.Task[None]] = set()
        self.stopping = False

    async def handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self.open.add(task)
        try:
            await self.relay(client_reader, client_writer)
        except asyncio.CancelledError:
            if not self.stopping:
                raise
            # The relay is stopping and ends its clients' open (idle, kept-alive) connections, as a network going
            # down would: the streams' callback reports a handler that ends cancelled as an error.
        finally:
            self.open.discard(task)

    async def relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError as error:
            print(f"cannot reach {self.target[0]}:{self.target[1]}: {error}", file=sys.stderr, flush=True)
            client_writer.close()  # the client sees the connection end, as behind a network that failed
            return
        pipes = [Pipe(client_reader, server_writer, self.up, self.window, handshake=self.rtt),
                 Pipe(server_reader, client_writer, self.down, self.window)]
        tasks = [asyncio.create_task(step()) for pipe in pipes for step in (pipe.pump_in, pipe.pump_out)]
        try:
            # Both directions end at EOF; a reset on either side ends the connection as it would end a real one.
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                failure = task.exception()
                if failure is not None and not isinstance(failure, OSError):
                    raise failure  # a bug in the relay, not the network
        finally:
            for task in tasks:
                task.cancel()
            for writer in (client_writer, server_writer):
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

    def report(self) -> str:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return (f"cpu_seconds={usage.ru_utime + usage.ru_stime:.2f} connections={self.connections} "
                f"bytes_up={self.up.bytes} bytes_down={self.down.bytes}")


async def serve(relay: Relay, host: str, port: int) -> None:
    server = await asyncio.start_server(relay.handle, host, port, backlog=1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    bound = server.sockets[0].getsockname()
    print(f"listening on {bound[0]}:{bound[1]}", flush=True)
    async with server:
        await stop.wait()
        relay.stopping = True
        server.close()
        for task in list(relay.open):
            task.cancel()
        await asyncio.gather(*relay.open, return_exceptions=True)
    print(relay.report(), flush=True)


def host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def mbps_to_bytes(mbps: float | None) -> float | None:
    """Megabits per second (10^6 bits, as links are sold) to bytes per second; None or 0: no cap."""
    return mbps * 1e6 / 8 if mbps else None


class ProxyProcess:
    """The relay in a child process (its CPU apart from the client's and the endpoint's), for benches and tests."""

    def __init__(self, target: str, rtt_ms: float, cap_mbps: float | None = None, window_kib: int = 4096):
        self.args = ["--target", target, "--rtt-ms", str(rtt_ms), "--window-kib", str(window_kib)]
        if cap_mbps:
            self.args += ["--cap-mbps", str(cap_mbps)]
        self.process: subprocess.Popen[str] | None = None
        self.endpoint = ""
        self.final_report = ""

    def start(self) -> str:
        repo = Path(__file__).resolve().parents[1]
        self.process = subprocess.Popen([sys.executable, "-m", "scripts.latency_proxy", *self.args], cwd=repo,
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.process.kill()
            raise RuntimeError(f"latency proxy did not start (exit {self.process.wait()}): {line!r}")
        self.endpoint = "http://" + line.removeprefix("listening on ")
        return self.endpoint

    def cpu(self) -> float:
        """CPU seconds the relay has used so far."""
        assert self.process is not None
        return process_cpu(self.process.pid)

    def stop(self) -> str:
        """Stops the relay; returns its last report (CPU seconds, connections, bytes each way)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            out, _ = self.process.communicate(timeout=10)
            self.final_report = out.strip().splitlines()[-1] if out.strip() else ""
        return self.final_report

    def __enter__(self) -> ProxyProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=host_port, required=True, help="HOST:PORT of the endpoint")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one, printed)")
    parser.add_argument("--rtt-ms", type=float, default=20.0, help="round-trip time added (default: 20)")
    parser.add_argument("--cap-mbps", type=float, help="bandwidth of each direction, Mbit/s, shared (default: none)")
    parser.add_argument("--window-kib", type=int, default=4096, help="bytes in flight per connection and direction")
    args = parser.parse_args()
    if args.rtt_ms < 0 or (args.cap_mbps is not None and args.cap_mbps < 0) or args.window_kib <= 0:
        parser.error("--rtt-ms and --cap-mbps must not be negative, --window-kib must be positive")
    relay = Relay(args.target, args.rtt_ms / 1000, mbps_to_bytes(args.cap_mbps), args.window_kib * 1024)
    asyncio.run(serve(relay, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
