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


if __name__ == "__main__":
    for name in sys.argv[2:] or ["signature_header"]:
        globals()[name]()
