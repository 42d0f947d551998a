#!/usr/bin/env python3
"""The signing HTTP/1.1 load client of the fault scripts (standard library only); run through
faults.py (`faults.py load`, `faults.py probe`).

Every request is signed: Stripe-Signature t=<now>,v1=HMAC-SHA256(secret, "<t>.<body>") over a
body that changes per request, the secret read from --secret-file at most every 0.2 s (a
script switches clients to a new secret by rewriting that file). Statuses, connection errors,
the time of each failure and, over TLS, the certificate each new handshake got are counted.
"""
import argparse
import asyncio
import hashlib
import hmac
import json
import os
import ssl
import time


class Secret:
    """The signing secret, re-read from its file at most every 0.2 s."""

    def __init__(self, path: str):
        self.path, self.value, self.read_at = path, b"", 0.0

    def get(self) -> bytes:
        now = time.monotonic()
        if now - self.read_at > 0.2:
            try:
                with open(self.path, encoding="utf-8") as f:
                    value = f.read().strip().encode()
                if value:
                    self.value = value
            except OSError:
                pass
            self.read_at = now
        return self.value


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Reads one response; returns (status, connection stays open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    keep = headers.get("connection", "").lower() != "close"
    return status, keep


class Load:
    def __init__(self, args):
        self.args = args
        self.secret = Secret(args.secret_file)
        self.statuses: dict[str, int] = {}
        self.latencies: list[float] = []
        self.failures: list[tuple[float, str]] = []
        self.started = 0
        self.done = 0
        self.certs: dict[str, list] = {}
        self.stop = False
        self.tokens: asyncio.Queue | None = None
        self.ssl = None
        if args.tls:
            self.ssl = ssl.create_default_context()
            self.ssl.check_hostname = False
            self.ssl.verify_mode = ssl.CERT_NONE

    def request(self, n: int) -> bytes:
        if self.args.kind == "webhook":
            body = json.dumps({"id": f"evt_load_{os.getpid()}_{n}", "object": "event",
                               "type": "invoice.paid", "livemode": True,
                               "account": "acct_load"}, separators=(",", ":")).encode()
        else:
            body = json.dumps({"user_id": "usr_load", "account_id": "acct_load", "n": n},
                              separators=(",", ":")).encode()
        t = int(time.time())
        sig = hmac.new(self.secret.get(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        return (f"POST {self.args.path} HTTP/1.1\r\nHost: {self.args.host}:{self.args.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"Stripe-Signature: t={t},v1={sig}\r\n\r\n").encode() + body

    def count(self, key: str, started: float):
        self.statuses[key] = self.statuses.get(key, 0) + 1
        if key == "200":
            self.latencies.append(time.monotonic() - started)
        else:
            self.failures.append((time.time(), key))

    async def connect(self):
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.args.host, self.args.port, ssl=self.ssl), 5)
        if self.ssl is not None:
            der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
            digest = hashlib.sha256(der).hexdigest()[:16]
            seen = self.certs.setdefault(digest, [time.time(), 0])
            seen[1] += 1
        return reader, writer

    async def worker(self):
        reader = writer = None
        used = 0
        while not self.stop:
            if self.tokens is not None:
                await self.tokens.get()
                if self.stop:
                    break
            n = self.started
            self.started += 1
            started = time.monotonic()
            try:
                if writer is None:
                    reader, writer = await self.connect()
                    used = 0
                writer.write(self.request(n))
                status, keep = await asyncio.wait_for(read_response(reader),
                                                      self.args.timeout)
                used += 1
                self.count(str(status), started)
                if not keep or (self.args.reconnect_every and used >= self.args.reconnect_every):
                    writer.close()
                    writer = None
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError,
                    asyncio.LimitOverrunError, ValueError, ssl.SSLError) as err:
                kind = "timeout" if isinstance(err, asyncio.TimeoutError) else type(err).__name__
                self.count(f"error:{kind}", started)
                if writer is not None:
                    writer.close()
                writer = None
                await asyncio.sleep(0.01)
            self.done += 1
        if writer is not None:
            writer.close()

    async def pace(self):
        interval = 1.0 / self.args.rate
        next_at = time.monotonic()
        while not self.stop:
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.tokens.qsize() < self.args.conns * 4:
                self.tokens.put_nowait(None)

    async def run(self) -> dict:
        args = self.args
        if args.rate:
            self.tokens = asyncio.Queue()
        began = time.time()
        workers = [asyncio.create_task(self.worker()) for _ in range(args.conns)]
        pacer = asyncio.create_task(self.pace()) if args.rate else None
        deadline = time.monotonic() + args.duration
        while time.monotonic() < deadline:
            if args.stop_file and os.path.exists(args.stop_file):
                break
            await asyncio.sleep(0.05)
        self.stop = True
        if pacer:
            pacer.cancel()
            for _ in workers:
                self.tokens.put_nowait(None)
        # In-flight requests finish (each has its own timeout).
        await asyncio.wait(workers, timeout=args.timeout + 5)
        lat = sorted(self.latencies)

        def pct(p):
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2) if lat else None

        failed = sum(n for k, n in self.statuses.items() if k != "200")
        return {
            "started_at": began, "ended_at": time.time(), "requests": self.done,
            "unfinished": self.started - self.done, "ok": self.statuses.get("200", 0),
            "failed": failed, "statuses": self.statuses, "p50_ms": pct(0.50),
            "p99_ms": pct(0.99), "max_ms": round(lat[-1] * 1000, 2) if lat else None,
            "certs": self.certs, "failures": self.failures[:500_000],
        }


def load(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="faults.py load")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/api/load")
    p.add_argument("--kind", choices=["app", "webhook"], default="app")
    p.add_argument("--secret-file", required=True)
    p.add_argument("--conns", type=int, default=16)
    p.add_argument("--rate", type=float, default=0, help="requests/s in total (0: closed loop)")
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--stop-file", help="stop issuing requests once this file exists")
    p.add_argument("--timeout", type=float, default=10)
    p.add_argument("--tls", action="store_true")
    p.add_argument("--reconnect-every", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    result = asyncio.run(Load(args).run())
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f)


def probe(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="faults.py probe")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/api/probe")
    p.add_argument("--kind", choices=["app", "webhook"], default="app")
    p.add_argument("--secret-file", required=True)
    p.add_argument("--tls", action="store_true")
    p.add_argument("--timeout", type=float, default=5)
    args = p.parse_args(argv)
    client = Load(args)

    async def once():
        reader, writer = await client.connect()
        try:
            writer.write(client.request(0))
            return (await asyncio.wait_for(read_response(reader), args.timeout))[0]
        finally:
            writer.close()

    try:
        print(asyncio.run(once()))
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ssl.SSLError):
        print("000")
