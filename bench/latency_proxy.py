#!/usr/bin/env python3
"""A loopback HTTP/1.1 proxy that adds a fixed delay to every request: what a registry across
a network costs, on a machine whose kernel has no `netem`.

Every request on a keep-alive client connection is read (head, and body up to 8 MiB), held
for the delay with asyncio.sleep (so concurrent requests wait at the same time, as they would
on a network), then forwarded over that client connection's own persistent connection to the
upstream, and the response is relayed as it comes (Content-Length, chunked or until close;
HEAD, 1xx, 204 and 304 have no body), headers unchanged except: the request's Host becomes
the upstream's, and a response's absolute Location on the upstream's origin is rewritten to
the origin the client asked (its Host), so a client that follows it stays behind the proxy.

Standalone:
    python3 bench/latency_proxy.py --upstream http://127.0.0.1:5000 --delay-ms 20 --port 5001
From Python (the proxy runs in a subprocess of its own, so its CPU is measured apart):
    with LatencyProxy("http://127.0.0.1:5000", delay_ms=20) as p:
        ... p.url ...; p.stats()["requests"]; p.cpu_seconds()

Standard library only. The subprocess speaks a line protocol on stdin/stdout when started with
--control: it prints `listening <url>` once ready, answers `stats` with one JSON line (`stats reset`:
the same, then max_in_flight counts afresh), and exits when stdin closes.
"""
import argparse
import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

# Request bodies up to this size are read before the delay (and can be sent again on a fresh
# upstream connection if a kept-alive one turns out closed); beyond it, the delay comes first
# and the rest streams.
BUFFER_LIMIT = 8 << 20
PIECE = 1 << 16
HEAD_LIMIT = 1 << 20


class ProxyStats:
    __slots__ = ("requests", "client_connections", "upstream_connections", "in_flight", "max_in_flight", "errors",
                 "bytes_to_upstream", "bytes_to_clients", "methods", "delay_seconds", "upstream_seconds", "request_seconds")

    def __init__(self):
        self.requests = self.client_connections = self.upstream_connections = 0
        self.in_flight = self.max_in_flight = self.errors = 0
        self.bytes_to_upstream = self.bytes_to_clients = 0
        # Sums over requests, to see where a request's time goes: the delay as slept (beyond
        # the asked delay: this event loop's lag), forwarding to the last byte of the answer
        # relayed (the upstream and the relay), and the whole request from its head read.
        self.delay_seconds = self.upstream_seconds = self.request_seconds = 0.0
        self.methods = {}

    def as_dict(self):
        d = {k: getattr(self, k) for k in self.__slots__}
        ru = resource.getrusage(resource.RUSAGE_SELF)
        d["cpu_seconds"] = ru.ru_utime + ru.ru_stime
        return d


def parse_head(head):
    """(first line, [(name, value)], {lowercase name: value}) of a request or response head."""
    lines = head[:-4].split(b"\r\n")
    headers, index = [], {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise ValueError(f"malformed header line {line[:80]!r}")
        value = value.strip()
        headers.append((name, value))
        index[name.strip().lower()] = value
    return lines[0], headers, index


def build_head(first, headers):
    return b"\r\n".join([first] + [n + b": " + v for n, v in headers]) + b"\r\n\r\n"


async def body_pieces(reader, index):
    """The raw bytes of a message body as they arrive, framing kept (chunked stays chunked)."""
    if b"chunked" in index.get(b"transfer-encoding", b"").lower():
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                out = [line]
                while True:  # trailers, then the empty line
                    t = await reader.readuntil(b"\r\n")
                    out.append(t)
                    if t == b"\r\n":
                        break
                yield b"".join(out)
                return
            yield line + await reader.readexactly(size + 2)
    elif b"content-length" in index:
        remaining = int(index[b"content-length"])
        if remaining <= PIECE:
            if remaining:
                yield await reader.readexactly(remaining)
            return
        while remaining:
            data = await reader.read(min(remaining, PIECE))
            if not data:
                raise asyncio.IncompleteReadError(b"", remaining)
            remaining -= len(data)
            yield data


class UpstreamGone(Exception):
    """The upstream connection closed before a byte of the response: safe to send again."""


class LatencyProxyServer:
    def __init__(self, upstream, delay_ms, stats=None):
        u = urlsplit(upstream)
        if u.scheme != "http" or not u.hostname:
            raise ValueError("upstream must be an http:// URL")
        self.up_host = u.hostname
        self.up_port = u.port or 80
        self.up_netloc = u.netloc.encode()
        self.up_origin = f"http://{u.netloc}".encode()
        self.delay = delay_ms / 1000
        self.stats = stats or ProxyStats()
        self.listen_netloc = b""

    async def open_upstream(self):
        r, w = await asyncio.open_connection(self.up_host, self.up_port, limit=HEAD_LIMIT)
        self.stats.upstream_connections += 1
        return r, w

    async def handle(self, creader, cwriter):
        st = self.stats
        st.client_connections += 1
        up = None
        try:
            while True:
                try:
                    head = await creader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError as e:
                    if e.partial.strip():
                        st.errors += 1
                    return
                t_head = time.monotonic()
                head = head.lstrip(b"\r\n")
                first, headers, index = parse_head(head)
                method, target, version = first.split(b" ", 2)
                if target.startswith(b"http://") or target.startswith(b"https://"):  # absolute-form
                    target = b"/" + target.split(b"/", 3)[3] if target.count(b"/") >= 3 else b"/"
                client_host = index.get(b"host", self.listen_netloc)
                continue_sent = False
                out_headers = []
                for n, v in headers:
                    ln = n.lower()
                    if ln == b"host":
                        out_headers.append((n, self.up_netloc))
                    elif ln == b"expect" and v.lower() == b"100-continue":
                        # Answered here: the body is read before the delay.
                        cwriter.write(version + b" 100 Continue\r\n\r\n")
                        continue_sent = True
                    else:
                        out_headers.append((n, v))
                if b"host" not in index:
                    out_headers.append((b"Host", self.up_netloc))
                out_head = build_head(b" ".join((method, target, version)), out_headers)
                conn = index.get(b"connection", b"").lower()
                keep_client = (b"close" not in conn) if version == b"HTTP/1.1" else (b"keep-alive" in conn)

                st.requests += 1
                m = method.decode("latin-1")
                st.methods[m] = st.methods.get(m, 0) + 1
                st.in_flight += 1
                if st.in_flight > st.max_in_flight:
                    st.max_in_flight = st.in_flight
                try:
                    # The body (up to BUFFER_LIMIT) before the delay.
                    pieces = body_pieces(creader, index)
                    buffered, size, more = [], 0, False
                    async for p in pieces:
                        buffered.append(p)
                        size += len(p)
                        if size > BUFFER_LIMIT:
                            more = True
                            break
                    t_sleep = time.monotonic()
                    await asyncio.sleep(self.delay)
                    t_forward = time.monotonic()
                    st.delay_seconds += t_forward - t_sleep
                    payload = out_head + b"".join(buffered)
                    for attempt in (0, 1):
                        fresh = up is None
                        if up is None:
                            try:
                                up = await self.open_upstream()
                            except OSError as e:
                                st.errors += 1
                                msg = f"upstream {self.up_netloc.decode()}: {e}".encode()
                                cwriter.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                                              b"Content-Length: " + str(len(msg)).encode() + b"\r\n\r\n" + msg)
                                await cwriter.drain()
                                return
                        ureader, uwriter = up
                        try:
                            try:
                                uwriter.write(payload)
                                st.bytes_to_upstream += len(payload)
                                if more:
                                    async for p in pieces:
                                        uwriter.write(p)
                                        st.bytes_to_upstream += len(p)
                                        await uwriter.drain()
                                await uwriter.drain()
                            except ConnectionError as e:
                                raise UpstreamGone() from e
                            keep_up, keep_c = await self.relay_response(ureader, cwriter, method, client_host)
                            t_done = time.monotonic()
                            st.upstream_seconds += t_done - t_forward
                            st.request_seconds += t_done - t_head
                            break
                        except UpstreamGone:
                            up = None
                            uwriter.close()
                            if fresh or more or attempt:
                                raise ConnectionResetError("upstream closed the connection")
                finally:
                    st.in_flight -= 1
                if not keep_up:
                    up[1].close()
                    up = None
                if not (keep_client and keep_c):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError):
            st.errors += 1
        except asyncio.CancelledError:
            pass  # the proxy is stopping: end quietly (asyncio.run cancels open connections)
        finally:
            if up is not None:
                up[1].close()
            cwriter.close()

    async def relay_response(self, ureader, cwriter, method, client_host):
        """Relays one response; returns (keep the upstream connection, keep the client's)."""
        st = self.stats
        got_any = False
        while True:
            try:
                head = await ureader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionResetError) as e:
                partial = getattr(e, "partial", b"")
                if not got_any and not partial:
                    raise UpstreamGone() from e
                raise
            got_any = True
            first, headers, index = parse_head(head)
            code = int(first.split(b" ", 2)[1])
            if 100 <= code < 200 and code != 101:
                cwriter.write(head)  # interim response; the final one follows
                continue
            break
        loc = index.get(b"location")
        if loc is not None and loc.startswith(self.up_origin):
            rest = loc[len(self.up_origin):]
            if not rest or rest[:1] in (b"/", b"?", b"#"):
                new = b"http://" + client_host + rest
                headers = [(n, new if n.lower() == b"location" else v) for n, v in headers]
                head = build_head(first, headers)
        conn = index.get(b"connection", b"").lower()
        keep_up = b"close" not in conn and not first.startswith(b"HTTP/1.0")
        if method == b"HEAD" or code in (204, 304) or code < 200:
            cwriter.write(head)
            st.bytes_to_clients += len(head)
            await cwriter.drain()
            return keep_up, True
        te = index.get(b"transfer-encoding", b"").lower()
        if b"chunked" in te or b"content-length" in index:
            cl = None if b"chunked" in te else int(index[b"content-length"])
            if cl is not None and cl <= PIECE:
                body = await ureader.readexactly(cl) if cl else b""
                cwriter.write(head + body)
                st.bytes_to_clients += len(head) + cl
            else:
                cwriter.write(head)
                st.bytes_to_clients += len(head)
                async for p in body_pieces(ureader, index):
                    cwriter.write(p)
                    st.bytes_to_clients += len(p)
                    await cwriter.drain()
            await cwriter.drain()
            return keep_up, True
        # No framing: the body runs until the upstream closes; so does the client's connection.
        cwriter.write(head)
        while True:
            data = await ureader.read(PIECE)
            if not data:
                break
            cwriter.write(data)
            st.bytes_to_clients += len(data)
            await cwriter.drain()
        await cwriter.drain()
        return False, False


async def serve(upstream, delay_ms, host, port, control):
    proxy = LatencyProxyServer(upstream, delay_ms)
    server = await asyncio.start_server(proxy.handle, host, port, limit=HEAD_LIMIT, backlog=256)
    sock_host, sock_port = server.sockets[0].getsockname()[:2]
    proxy.listen_netloc = f"{sock_host}:{sock_port}".encode()
    url = f"http://{sock_host}:{sock_port}"
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    if control:
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

        async def commands():
            while True:
                line = await reader.readline()
                if not line:
                    break
                command = line.strip()
                if command in (b"stats", b"stats reset"):
                    sys.stdout.write(json.dumps(proxy.stats.as_dict()) + "\n")
                    sys.stdout.flush()
                    if command == b"stats reset":  # the high-water mark starts again from now
                        proxy.stats.max_in_flight = proxy.stats.in_flight
            if not done.done():
                done.set_result(None)
        loop.create_task(commands())
    print(f"listening {url}", flush=True)
    if not control:
        print(f"forwarding to {upstream} after {delay_ms:g} ms", file=sys.stderr, flush=True)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: done.done() or done.set_result(None))
    async with server:
        await done
    if not control:
        print(json.dumps(proxy.stats.as_dict()), file=sys.stderr)


class LatencyProxy:
    """The proxy in a subprocess of its own (`start`/`stop`, or a `with` block)."""

    def __init__(self, upstream, delay_ms=20.0, host="127.0.0.1", port=0):
        self.upstream, self.delay_ms, self.host, self.port = upstream, delay_ms, host, port
        self.proc = None
        self.url = None
        self._lock = threading.Lock()

    def start(self):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--upstream", self.upstream, "--delay-ms", str(self.delay_ms),
             "--host", self.host, "--port", str(self.port), "--control"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        line = self.proc.stdout.readline()
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError(f"latency proxy did not start: {line!r}")
        self.url = line.split()[1]
        self.port = int(self.url.rsplit(":", 1)[1])
        return self

    @property
    def pid(self):
        return self.proc.pid

    @property
    def netloc(self):
        return self.url.split("://", 1)[1]

    def stats(self, reset_max=False):
        """The proxy's counters: requests, client_connections, upstream_connections,
        max_in_flight, errors, bytes_to_upstream, bytes_to_clients, methods, cpu_seconds, and
        the sums delay_seconds, upstream_seconds, request_seconds (see ProxyStats).
        `reset_max`: max_in_flight counts again from this call on."""
        with self._lock:
            self.proc.stdin.write("stats reset\n" if reset_max else "stats\n")
            self.proc.stdin.flush()
            return json.loads(self.proc.stdout.readline())

    def requests(self):
        return self.stats()["requests"]

    def cpu_seconds(self):
        """User + system CPU seconds the proxy process has used so far."""
        fields = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.proc.stdin.close()  # EOF on stdin: the proxy exits
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--upstream", required=True, help="http://host:port of the server behind the proxy")
    ap.add_argument("--delay-ms", type=float, default=20.0, help="delay added to every request (ms)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    ap.add_argument("--control", action="store_true", help="answer `stats` on stdin with JSON on stdout; exit at EOF")
    args = ap.parse_args()
    asyncio.run(serve(args.upstream, args.delay_ms, args.host, args.port, args.control))


if __name__ == "__main__":
    main()
