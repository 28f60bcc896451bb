#!/usr/bin/python3
"""Independent oracle for train.SummaryWriter's event files.

TensorBoard and TensorFlow are not packaged by Debian, so this script
encodes and decodes TensorBoard event files by hand, from the formats'
specifications, with nothing but the standard library:

  * TFRecord framing (tensorflow/core/lib/io/record_writer.cc): uint64
    length LE, uint32 masked CRC-32C of the length bytes, the data, uint32
    masked CRC-32C of the data; mask(c) = ((c >> 15) | (c << 17)) +
    0xa282ead8 (mod 2^32).
  * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit.
  * tensorflow.Event / Summary protocol buffers (event.proto, summary.proto):
    Event{1: double wall_time, 2: int64 step, 3: string file_version,
    5: Summary summary}, Summary{1: repeated Value value},
    Value{1: string tag, 2: float simple_value}, with a hand-written
    varint and wire-type parser.

Before anything else it checks itself against published values: CRC-32C
check values (RFC 3720 B.4 and the usual "123456789"), and two records of
a real TensorFlow event file quoted in TensorBoard's own tests
(tensorboard/data/server/tf_record.rs and masked_crc.rs). If python3-crcmod
is installed its CRC-32C is compared too.

Usage:
  gen_tfevents.py            write scalars.json (the input) and
                             scalars.tfevents (the expected bytes) here
  gen_tfevents.py check F…   decode event files, verify every CRC and
                             print the events as JSON lines
"""

import json
import math
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame(data):
    n = struct.pack("<Q", len(data))
    return n + struct.pack("<I", masked(n)) + data + struct.pack("<I", masked(data))


# --- protobuf encoding, by hand ---

def varint(v):
    v &= (1 << 64) - 1  # negative int64 as two's complement, 10 bytes
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field, wire):
    return varint(field << 3 | wire)


def ld(field, payload):  # length-delimited
    return key(field, 2) + varint(len(payload)) + payload


def file_version_event(wall):
    return key(1, 1) + struct.pack("<d", wall) + ld(3, b"brain.Event:2")


def scalar_event(wall, step, tag, value):
    v = b""
    if tag:
        v += ld(1, tag.encode("utf-8"))
    v += key(2, 5) + struct.pack("<f", value)  # oneof member: always written
    ev = key(1, 1) + struct.pack("<d", wall)
    if step:
        ev += key(2, 0) + varint(step)
    return ev + ld(5, ld(1, v))


# --- decoding, by hand ---

def read_varint(b, i):
    shift = result = 0
    while True:
        if i >= len(b):
            raise ValueError("truncated varint")
        c = b[i]
        i += 1
        result |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return result, i
        if shift > 63:
            raise ValueError("varint too long")


def fields(b):
    i = 0
    while i < len(b):
        k, i = read_varint(b, i)
        field, wire = k >> 3, k & 7
        if wire == 0:
            v, i = read_varint(b, i)
        elif wire == 1:
            v, i = b[i:i + 8], i + 8
        elif wire == 2:
            n, i = read_varint(b, i)
            v, i = b[i:i + n], i + n
        elif wire == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("unsupported wire type %d" % wire)
        if i > len(b):
            raise ValueError("truncated field %d" % field)
        yield field, wire, v


def decode_event(b):
    ev = {}
    for f, w, v in fields(b):
        if f == 1 and w == 1:
            ev["wall_time"] = struct.unpack("<d", v)[0]
        elif f == 2 and w == 0:
            ev["step"] = v - (1 << 64) if v >= 1 << 63 else v
        elif f == 3 and w == 2:
            ev["file_version"] = v.decode("utf-8")
        elif f == 5 and w == 2:
            values = []
            for sf, sw, sv in fields(v):
                if sf == 1 and sw == 2:
                    val = {}
                    for vf, vw, vv in fields(sv):
                        if vf == 1 and vw == 2:
                            val["tag"] = vv.decode("utf-8")
                        elif vf == 2 and vw == 5:
                            val["simple_value"] = struct.unpack("<f", vv)[0]
                        else:
                            val.setdefault("other_fields", []).append(vf)
                    values.append(val)
            ev["summary"] = {"value": values}
        else:
            ev.setdefault("other_fields", []).append(f)
    return ev


def records(blob):
    i = 0
    while i < len(blob):
        if len(blob) - i < 12:
            raise ValueError("truncated header at byte %d" % i)
        n_bytes = blob[i:i + 8]
        (n,) = struct.unpack("<Q", n_bytes)
        (ncrc,) = struct.unpack("<I", blob[i + 8:i + 12])
        if ncrc != masked(n_bytes):
            raise ValueError("length CRC mismatch at byte %d" % i)
        data = blob[i + 12:i + 12 + n]
        if len(data) != n or len(blob) < i + 16 + n:
            raise ValueError("truncated record at byte %d" % i)
        (dcrc,) = struct.unpack("<I", blob[i + 12 + n:i + 16 + n])
        if dcrc != masked(data):
            raise ValueError("data CRC mismatch at byte %d" % i)
        yield data
        i += 16 + n


def self_check():
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"\x00" * 32) == 0x8A9136AA  # RFC 3720, B.4
    assert crc32c(b"\xff" * 32) == 0x62A8AB43  # RFC 3720, B.4
    # masked_crc.rs: from a real event file, Event(file_version="CRC test, one two")
    assert masked(b"\x1a\x11CRC test, one two") == 0x5794D08A
    # tf_record.rs: the first two records of a real TF 2 event file
    # (tf.summary.scalar("accuracy", 0.99, step=77)), dumped with xxd.
    rec1 = (b"\x18\x00\x00\x00\x00\x00\x00\x00" b"\xa3\x7f\x4b\x22"
            b"\x09\x00\x00\x80\x38\x99\xd6\xd7\x41\x1a\x0dbrain.Event:2" b"\x12\x4b\x36\xab")
    rec2 = (b"\x32\x00\x00\x00\x00\x00\x00\x00" b"\x24\x19\x56\xec"
            b"\x09\xc4\x05\xb7\x3d\x99\xd6\xd7\x41" b"\x10\x4d\x2a\x25"
            b"\x0a\x23\x0a\x08accuracy"
            b"\x42\x0a\x08\x01\x12\x00\x22\x04\xa4\x70\x7d\x3f\x4a"
            b"\x0b\x0a\x09\x0a\x07scalars" b"\xa5\x5b\x64\x33")
    got = list(records(rec1 + rec2))
    assert len(got) == 2
    ev = decode_event(got[0])
    assert ev["file_version"] == "brain.Event:2", ev
    # our encoder reproduces TensorFlow's first record byte for byte
    assert frame(file_version_event(ev["wall_time"])) == rec1
    ev2 = decode_event(got[1])
    assert ev2["step"] == 77 and ev2["summary"]["value"][0]["tag"] == "accuracy", ev2
    try:
        import crcmod.predefined
        f = crcmod.predefined.mkPredefinedCrcFun("crc-32c")
        for data in (b"", b"a", bytes(range(256)) * 3, rec1, rec2):
            assert f(data) == crc32c(data)
        print("crcmod agrees", file=sys.stderr)
    except ImportError:
        print("crcmod not installed; skipped its cross-check", file=sys.stderr)


# The fixed input: a file_version event, then scalars (wall time, step,
# tag, value). Values are chosen exactly representable where it matters,
# plus a few that round to float32, a zero value (still written: it is a
# oneof member), step 0 (left out) and a step beyond 32 bits.
FILE_WALL = 1700000000.25
SCALARS = [
    (1700000001.5, 0, "train/loss", 2.302585092994046),
    (1700000002.0, 1, "train/loss", 0.5),
    (1700000003.125, 938, "test/acc", 0.9125),
    (1700000004.0, 2, "zero", 0.0),
    (1700000005.0, 5, "neg", -1.5e-7),
    (1700000006.0, 1 << 40, "big/step", 1e30),
    (1700000007.0, 3, "unicode/λ", 0.1),
]


def generate():
    blob = frame(file_version_event(FILE_WALL))
    for wall, step, tag, value in SCALARS:
        blob += frame(scalar_event(wall, step, tag, value))
    # decode what was written, as a reader would
    evs = [decode_event(r) for r in records(blob)]
    assert evs[0] == {"wall_time": FILE_WALL, "file_version": "brain.Event:2"}
    for ev, (wall, step, tag, value) in zip(evs[1:], SCALARS):
        assert ev["wall_time"] == wall and ev.get("step", 0) == step
        v = ev["summary"]["value"][0]
        assert v["tag"] == tag and v["simple_value"] == struct.unpack("<f", struct.pack("<f", value))[0]
    with open(os.path.join(HERE, "scalars.tfevents"), "wb") as f:
        f.write(blob)
    with open(os.path.join(HERE, "scalars.json"), "w") as f:
        json.dump({"file_wall_time": FILE_WALL,
                   "scalars": [{"wall_time": w, "step": s, "tag": t, "value": v} for w, s, t, v in SCALARS]},
                  f, indent=1, ensure_ascii=False)
        f.write("\n")
    print("wrote scalars.tfevents (%d bytes) and scalars.json" % len(blob), file=sys.stderr)


def check(paths):
    for p in paths:
        with open(p, "rb") as f:
            blob = f.read()
        n = 0
        for r in records(blob):
            ev = decode_event(r)
            if n == 0 and ev.get("file_version") != "brain.Event:2":
                raise ValueError("%s: the first event is not file_version brain.Event:2: %r" % (p, ev))
            print(json.dumps(ev, ensure_ascii=False))
            n += 1
        print("%s: %d records, every CRC correct" % (p, n), file=sys.stderr)


if __name__ == "__main__":
    self_check()
    if len(sys.argv) > 1 and sys.argv[1] == "check":
        check(sys.argv[2:])
    else:
        generate()
