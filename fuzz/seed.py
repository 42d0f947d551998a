#!/usr/bin/env python3
"""Writes the starting corpus of each fuzz target into a directory (default: fuzz/seeds/).

Seeds come from the project's own data: the public Stripe-Signature vectors in tests/data/,
the shipped config files, and small hand-written cases mirroring the unit tests. Run it from
anywhere; then fuzz with the seeds and minimize into fuzz/corpus/<target> (see fuzz/README.md).
"""
import base64
import hashlib
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "fuzz" / "seeds"
VECTORS = json.loads((ROOT / "tests/data/stripe-vectors-public.json").read_text())["vectors"]


def write(target, items):
    directory = OUT / target
    directory.mkdir(parents=True, exist_ok=True)
    for item in items:
        data = item if isinstance(item, bytes) else item.encode()
        name = hashlib.sha1(data).hexdigest()
        (directory / name).write_bytes(data)


def vector_body(vector):
    for key in ("payload_base64", "body_base64"):
        if vector.get(key) is not None:
            return base64.b64decode(vector[key])
    for key in ("payload", "body"):
        if vector.get(key) is not None:
            return vector[key].encode()
    return b""


SIG = "5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd"
HEADERS = [v["header"] for v in VECTORS if v.get("header")] + [
    "t=1", "t=", "t=01,v1=ab", "t=-5,v1=" + SIG, "t=1, v1=" + SIG, "t=1,\tv1=ab",
    "t=1,t=2,v1=" + SIG, "t=1,v0=" + SIG, "t=1,v1=" + SIG + "=junk", "t=1=1,v1=" + SIG,
    "t=999999999999,v1=ab", "t=1000000000000,v1=ab", "t=0,v1=a,v1=b,v1=c,v1=d,v1=e",
    ",,t=5,,v1=ab,,", "v1=ab", "t=5,v1=", "t=5,v1", "t=1,v1=\xe9",
]
BODIES = [vector_body(v) for v in VECTORS]


def signature_header():
    write("signature_header", HEADERS)


def rust_literals(path, must_contain=b""):
    """The string and byte-string literals of a Rust source file, decoded (escapes, line
    continuations); only those containing `must_contain`."""
    import re
    text = (ROOT / path).read_text()
    found = []
    for match in re.finditer(r'b?"((?:[^"\\]|\\.)*)"', text, re.S):
        raw = match.group(1)
        raw = re.sub(r"\\\n\s*", "", raw)
        out = bytearray()
        i = 0
        while i < len(raw):
            c = raw[i]
            if c == "\\" and i + 1 < len(raw):
                e = raw[i + 1]
                simple = {"r": 13, "n": 10, "t": 9, "0": 0, '"': 34, "\\": 92, "'": 39}
                if e in simple:
                    out.append(simple[e])
                    i += 2
                    continue
                if e == "x":
                    out.append(int(raw[i + 2:i + 4], 16))
                    i += 4
                    continue
                if e == "u":
                    end = raw.index("}", i)
                    out += chr(int(raw[i + 3:end], 16)).encode()
                    i = end + 1
                    continue
            out += c.encode()
            i += 1
        if must_contain in out:
            found.append(bytes(out))
    return found


APP_BODIES = [vector_body(v) for v in VECTORS if v["kind"] == "app"] + [
    b'{"user_id":"usr_1","account_id":"acct_1"}',
    b'{"user_id":"usr_1","account_id":"acct_1","stripe_roles":[{"id":"admin"},{"name":"x"}]}',
    b'{"user_id":"u\\u0000\\n\\"","account_id":"a\\u2028/","stripe_roles":[]}',
    b'{"user_id":"u","user\\u005fid":"v","account_id":"a"}',
    b'{"user_id":"u","account_id":"a","x":{"k":1,"k":2}}',
    b'{"user_id":"u","account_id":"a","n":[1e400,-0,1.5e-7,true,null]}',
    b'{"user_id":1,"account_id":"a"}',
    b'[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]',
    b'{"user_id":"u","account_id":"a"} x',
    b"\xef\xbb\xbf{}",
]
EVENT_BODIES = [vector_body(v) for v in VECTORS if v["kind"] == "webhook"] + [
    b'{"id":"evt_1","type":"invoice.paid","livemode":true,"account":null}',
    b'{"id":"evt_1","type":"invoice.paid","livemode":"true","account":"acct_1"}',
]


def json_body():
    write("json_body", APP_BODIES + EVENT_BODIES)


def identity():
    write("identity", APP_BODIES)


def verify():
    seeds = []
    for v in VECTORS:
        header = (v.get("header") or "").encode()
        body = vector_body(v)
        selectors = [0] if v["kind"] == "webhook" else [2, 4, 6]
        seeds += [bytes([s]) + header + b"\n" + body for s in selectors]
    for body in APP_BODIES[-8:] + EVENT_BODIES[-2:]:
        for selector, offset in [(1, 0), (3, 0), (5, 300), (7, -301), (3, 301)]:
            seeds.append(bytes([selector]) + offset.to_bytes(2, "little", signed=True)
                         + b"\x07\x00\x20" + body)
    write("verify", seeds)


def config():
    texts = [(ROOT / "config/gateway.toml").read_text(), (ROOT / "config/example.toml").read_text()]
    small = """[upstream]
url = "http://127.0.0.1:3000"
[keyrings.app]
kind = "app"
secrets = [{ id = "a", env = "APP_SECRET" }, { id = "b", value = "absec_x", not_after = "2030-01-01T00:00:00Z" }]
[keyrings.hooks]
kind = "webhook"
secrets = [{ id = "w", env = "WEBHOOK_SECRET" }]
[[routes]]
id = "ui"
path_prefix = "/api/"
auth = "app"
keyring = "app"
app_signature = "raw_body"
require_roles_any = ["admin"]
[[routes]]
id = "hook"
path = "/webhook"
methods = ["POST"]
auth = "webhook"
keyring = "hooks"
events = ["invoice.*", "charge.succeeded"]
livemode = "test"
"""
    texts += [small, small.replace("APP_SECRET", "BLANK"), "[server]\nlisten = \"[::1]:0\"\n"]
    write("config", texts)


def http1_request():
    heads = rust_literals("src/http1/tests/request.rs", b"HTTP/1")
    heads += rust_literals("src/http1/tests/request_line.rs", b"HTTP/1")
    heads += rust_literals("src/http1/tests/mod.rs", b"HTTP/1")
    write("http1_request", [bytes([s]) + h for h in heads for s in (0, 1)])


def http1_response():
    heads = rust_literals("src/http1/tests/response.rs", b"HTTP/")
    write("http1_response", [bytes([s]) + h for h in heads for s in (0, 8)] + [b"\x04HEAD" + heads[0]])


def http1_chunked():
    bodies = rust_literals("src/http1/tests/chunked.rs", b"\r\n")
    seeds = [bytes([0, 0]) + b for b in bodies]
    seeds += [bytes([s, 3, 1, 2, 5]) + b for b in bodies[:6] for s in (2, 4)]
    write("http1_chunked", seeds)


TARGETS = ["signature_header", "json_body", "identity", "verify", "config", "http1_request",
           "http1_response", "http1_chunked"]

if __name__ == "__main__":
    for name in sys.argv[2:] or TARGETS:
        globals()[name]()
