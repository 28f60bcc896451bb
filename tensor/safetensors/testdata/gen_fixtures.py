#!/usr/bin/python3
"""Safetensors fixtures for package tensor/safetensors, written without Tapir.

Debian has no python3-safetensors, so this script writes and reads the
format itself with struct and json, from PyTorch tensors: an implementation
independent of the Go one. Run it with Debian's PyTorch:

    apt-get install python3-torch
    /usr/bin/python3 tensor/safetensors/testdata/gen_fixtures.py

It writes, next to this script:

  torch_written.safetensors  every dtype package tensor holds (F64, F32,
                 F16, BF16, I64, I32, U8, BOOL) plus I16 and I8, with
                 special values (±0, ±inf, NaN, subnormals, extremes), a 0-d
                 and two empty tensors, metadata, and data laid out in
                 header order with no alignment padding between tensors.
  unsupported.safetensors    U16, U32, U64 and F8 tensors (raw bytes; torch
                 1.13 has no such dtypes) beside one F32 tensor.
  fixtures.json  the sidecar: for each file, the names in header order,
                 the metadata, and each tensor's dtype, shape and elements
                 as raw bit patterns (the element read as an integer of its
                 width, signed for I*, unsigned for the rest).

Check mode reads a file the Go writer made and verifies it:

    /usr/bin/python3 tensor/safetensors/testdata/gen_fixtures.py --check \
        tensor/safetensors/testdata/go_written.safetensors

The Go test helper that makes go_written.safetensors (run with
SAFETENSORS_WRITE_GO_FIXTURE=1, see fixtures_test.go) writes the tensors of
torch_written.safetensors, with I16 and I8 as I32 (Tapir widens them), plus
non-contiguous views whose expected values are computed here with torch.
"""
import json
import os
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_HEADER = 100_000_000

DTYPES = {  # safetensors name -> (torch dtype, element size)
    "F64": (torch.float64, 8), "F32": (torch.float32, 4), "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2), "I64": (torch.int64, 8), "I32": (torch.int32, 4),
    "I16": (torch.int16, 2), "I8": (torch.int8, 1), "U8": (torch.uint8, 1), "BOOL": (torch.bool, 1),
}
SIZES = {"U16": 2, "U32": 4, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1}
SIZES.update({k: v[1] for k, v in DTYPES.items()})
# the integer type of each width that the raw bits are read as
BITS_VIEW = {torch.float64: torch.int64, torch.float32: torch.int32, torch.float16: torch.int16,
             torch.bfloat16: torch.int16}
UNSIGNED_MASK = {torch.float64: (1 << 64) - 1, torch.float32: (1 << 32) - 1,
                 torch.float16: 0xFFFF, torch.bfloat16: 0xFFFF}


def specials(dtype):
    """Values that stress a float format's encoding."""
    fi = torch.finfo(dtype)
    return [0.0, -0.0, 1.0, -1.0, float("inf"), float("-inf"), float("nan"), -float("nan"),
            fi.max, -fi.max, fi.tiny, fi.tiny / 4, fi.eps, 1 / 3]


def make_tensors():
    """The tensors of torch_written.safetensors, in header order."""
    g = torch.Generator().manual_seed(20261121)
    ts = {}
    ts["layer1.0.conv1.weight"] = torch.randn(2, 3, 2, 2, generator=g, dtype=torch.float32)
    ts["f32_specials"] = torch.tensor(specials(torch.float32), dtype=torch.float32)
    ts["f64"] = torch.cat([torch.randn(6, generator=g, dtype=torch.float64),
                           torch.tensor(specials(torch.float64), dtype=torch.float64)]).reshape(4, 5)
    ts["f16"] = torch.cat([torch.randn(6, generator=g).half(),
                           torch.tensor(specials(torch.float16), dtype=torch.float16)]).reshape(5, 4)
    ts["bf16"] = torch.cat([torch.randn(6, generator=g).bfloat16(),
                            torch.tensor(specials(torch.bfloat16), dtype=torch.bfloat16)]).reshape(4, 5)
    ts["i8"] = torch.tensor([-128, -1, 0, 1, 127], dtype=torch.int8)  # 5 bytes: what follows is unaligned
    ts["i64"] = torch.tensor([[-(2 ** 63), -1, 0], [1, 2 ** 53 + 1, 2 ** 63 - 1]], dtype=torch.int64)
    ts["i32"] = torch.cat([torch.randint(-1000, 1000, (5,), generator=g, dtype=torch.int32),
                           torch.tensor([-(2 ** 31), 2 ** 31 - 1], dtype=torch.int32)])
    ts["u8"] = torch.tensor([0, 1, 127, 128, 200, 255, 7], dtype=torch.uint8).reshape(7, 1)
    ts["i16"] = torch.tensor([[-32768, -1, 0], [1, 12345, 32767]], dtype=torch.int16)
    ts["bool"] = torch.rand(3, 3, generator=g) < 0.5
    ts["scalar"] = torch.tensor(3.5, dtype=torch.float32)  # 0-d
    ts["scalar_i64"] = torch.tensor(-7, dtype=torch.int64)  # 0-d
    ts["empty"] = torch.zeros(0, dtype=torch.float32)
    ts["empty_2x0x3"] = torch.zeros(2, 0, 3, dtype=torch.int64)
    ts["名前/ünïcode \"quoted\""] = torch.tensor([1.5, -2.25], dtype=torch.float16)
    return ts


METADATA = {"format": "pt", "note": "written by gen_fixtures.py \u2713 \"quoted\" \\ back"}


def raw_bytes(t):
    """The little-endian bytes of t's elements in row-major order."""
    t = t.contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    a = t.numpy()
    if a.dtype.itemsize > 1:
        a = a.astype(a.dtype.newbyteorder("<"))
    return a.tobytes()


def st_name(dtype):
    for k, (d, _) in DTYPES.items():
        if d == dtype:
            return k
    raise ValueError(dtype)


def write_file(path, entries, metadata):
    """entries: list of (name, dtype name, shape, raw bytes), in order."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    off = 0
    for name, dt, shape, raw in entries:
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    hb = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for _, _, _, raw in entries:
            f.write(raw)


def bits_of(t):
    """The elements of t as integers: raw bits for floats, values otherwise."""
    t = t.contiguous().reshape(-1)
    if t.dtype in BITS_VIEW:
        mask = UNSIGNED_MASK[t.dtype]
        return [int(v) & mask for v in t.view(BITS_VIEW[t.dtype]).tolist()]
    if t.dtype == torch.bool:
        return [int(v) for v in t.tolist()]
    return [int(v) for v in t.tolist()]


def describe(t):
    return {"dtype": st_name(t.dtype), "shape": list(t.shape), "bits": bits_of(t)}


def generate():
    ts = make_tensors()
    entries = [(n, st_name(t.dtype), t.shape, raw_bytes(t)) for n, t in ts.items()]
    write_file(os.path.join(HERE, "torch_written.safetensors"), entries, METADATA)

    un = [
        ("u16", "U16", [3], struct.pack("<3H", 0, 1, 65535), [0, 1, 65535]),
        ("u32", "U32", [2], struct.pack("<2I", 7, 4294967295), [7, 4294967295]),
        ("u64", "U64", [1], struct.pack("<Q", 2 ** 64 - 1), [2 ** 64 - 1]),
        ("f8_e4m3", "F8_E4M3", [2, 1], bytes([0x38, 0xB8]), [0x38, 0xB8]),
        ("f8_e5m2", "F8_E5M2", [1], bytes([0x3C]), [0x3C]),
    ]
    ok = torch.tensor([0.5, 0.25], dtype=torch.float32)
    entries = [(n, dt, sh, raw) for n, dt, sh, raw, _ in un] + [("ok", "F32", [2], raw_bytes(ok))]
    write_file(os.path.join(HERE, "unsupported.safetensors"), entries, None)

    side = {
        "torch_written.safetensors": {
            "order": list(ts), "metadata": METADATA,
            "tensors": {n: describe(t) for n, t in ts.items()},
        },
        "unsupported.safetensors": {
            "order": [e[0] for e in entries], "metadata": None,
            "tensors": dict({n: {"dtype": dt, "shape": sh, "bits": b} for n, dt, sh, _, b in un},
                            ok=describe(ok)),
        },
    }
    with open(os.path.join(HERE, "fixtures.json"), "w", encoding="utf-8") as f:
        json.dump(side, f, indent=1, ensure_ascii=False)
        f.write("\n")


# ---- check mode ----------------------------------------------------------

def expected_go_file():
    """What go_written.safetensors must hold: torch_written's tensors with
    I16/I8 widened to I32, and views computed here with torch."""
    ts = make_tensors()
    exp = {}
    for n, t in ts.items():
        exp[n] = t.to(torch.int32) if t.dtype in (torch.int16, torch.int8) else t
    w = ts["layer1.0.conv1.weight"]
    exp["view.transpose"] = ts["f64"].t()
    exp["view.permute"] = w.permute(3, 1, 0, 2)
    exp["view.step"] = ts["i64"][:, ::2]
    exp["view.expand"] = ts["u8"].expand(7, 3)
    exp["view.f16_transpose"] = ts["f16"].t()
    exp["view.bf16_narrow"] = ts["bf16"][1:3, 1:4]
    exp["view.bool_flip"] = ts["bool"].flip(0)
    return exp, {"writer": "tapir", "note": METADATA["note"]}


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def check(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    if n > MAX_HEADER or 8 + n > len(blob):
        fail(f"header length {n}")
    if (8 + n) % 8:
        fail(f"data starts at {8 + n}, not a multiple of 8")
    text = blob[8:8 + n].decode("utf-8")
    if text.rstrip(" ") != text.rstrip():
        fail("header padded with something other than spaces")
    pairs = json.loads(text, object_pairs_hook=lambda kv: kv)
    names = [k for k, _ in pairs]
    if len(names) != len(set(names)):
        fail("duplicate names")
    header = dict(pairs)
    meta = header.pop("__metadata__", None)
    meta = dict(meta) if meta is not None else None
    data = blob[8 + n:]
    exp, exp_meta = expected_go_file()
    if meta != exp_meta:
        fail(f"metadata {meta!r} != {exp_meta!r}")
    if [k for k in names if k != "__metadata__"] != list(exp):
        fail(f"names / order {names} != {list(exp)}")
    spans = []
    for name, e in header.items():
        e = dict(e)
        want = exp[name]
        dt = e["dtype"]
        if dt != st_name(want.dtype):
            fail(f"{name}: dtype {dt}, want {st_name(want.dtype)}")
        if e["shape"] != list(want.shape):
            fail(f"{name}: shape {e['shape']}, want {list(want.shape)}")
        b, end = e["data_offsets"]
        size = SIZES[dt]
        if b % size:
            fail(f"{name}: data at {b} is not aligned for {dt}")
        raw = data[b:end]
        if len(raw) != want.numel() * size:
            fail(f"{name}: {len(raw)} bytes for {want.numel()} elements")
        if raw != raw_bytes(want):
            fail(f"{name}: bytes differ from torch's")
        # and decode them the other way too: numpy from the bytes
        if dt == "BF16":
            got = torch.from_numpy(np.frombuffer(raw, dtype="<i2").copy()).view(torch.bfloat16)
        else:
            npdt = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
                    "U8": "u1", "BOOL": "?"}[dt]
            got = torch.from_numpy(np.frombuffer(raw, dtype=npdt).copy())
        got = got.reshape(want.shape)
        if bits_of(got) != bits_of(want):
            fail(f"{name}: values differ")
        spans.append((b, end))
    spans.sort()
    pos = 0
    for b, end in spans:
        if b != pos:
            fail(f"hole or overlap at {pos}")
        pos = end
    if pos != len(data):
        fail(f"tensors cover {pos} of {len(data)} data bytes")
    print(f"ok: {path}: {len(exp)} tensors, metadata, layout and values as expected")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
    elif len(sys.argv) == 1:
        generate()
    else:
        print(__doc__)
        sys.exit(2)
