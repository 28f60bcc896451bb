#!/usr/bin/python3
"""PyTorch .pt fixtures for package zoo/torchfile, written by torch.save.

Run it with Debian's PyTorch and torchvision:

    apt-get install python3-torch python3-torchvision
    /usr/bin/python3 zoo/torchfile/testdata/gen_fixtures.py

It writes, next to this script, each state dict twice: NAME.pt in the zip
format (torch >= 1.6, the default) and NAME_legacy.pt in the legacy format
(_use_new_zipfile_serialization=False):

  dtypes     every dtype torch 1.13 stores that package tensor can hold
             (float32/64/16, bfloat16, int64/32/16/8, uint8, bool) with
             special values (+-0, +-inf, NaN, subnormals, extremes), 0-d and
             empty tensors, a 5-d tensor and a non-ASCII name.
  views      tensors that are views: shared storages, storage offsets,
             transposes, steps, stride-0 expansions, one storage saved
             for a slice of it, the same tensor under two names.
  module     an nn.Sequential's state_dict() (an OrderedDict that carries
             _metadata, so the pickle has a BUILD).
  params     a dict of nn.Parameter (pickled by _rebuild_parameter).
  proto4     the small state dict pickled with protocol 4 (FRAME, MEMOIZE,
             SHORT_BINUNICODE, STACK_GLOBAL).
  nested     a training checkpoint {"epoch", "state_dict", "optimizer",
             "args" (an argparse.Namespace)}.
  model_key  a checkpoint {"model": state dict, "lr": 0.1}.
  resnet18w8 torchvision's ResNet-18 built at 1/8 width (8-16-32-64
             channels, 10 classes): resnet18's 122 keys, names and dtypes
             with 175k parameters, random init (torch.manual_seed(0)) and
             random BatchNorm statistics; also as resnet18w8.safetensors,
             written by the small encoder below (Debian has no
             python3-safetensors), and as resnet18w8.onnx (see --onnx).

and, in the zip format only:

  legacy_views  a legacy file whose storages are views (view_metadata),
             which torch.load reads but torch 1.13 no longer writes: made
             with pickle following torch's _legacy_save.
  writer_oracle  fresh contiguous tensors of package tensor's dtypes in a
             plain OrderedDict, saved through a file object: the Go writer
             must reproduce its data.pkl and data/ records byte for byte.
  list, whole_module, overlap, complex, jit
             files that are not state dicts Tapir can load: a list of
             tensors, a pickled nn.Linear, a self-overlapping view, a
             complex64 tensor, a TorchScript archive.

fixtures.json is the sidecar: for each file the keys in order and, for each
tensor, its dtype, shape, storage (an id shared by tensors that share a
storage in torch), storage offset, strides, and its elements as raw bit
patterns (floats read as unsigned integers of their width, integers and
bools as their values); for resnet18w8, the SHA-256 of each tensor's
little-endian bytes instead. Everything in it is read back with torch.load.

The ONNX fixture alone (the legacy .pt files are not reproducible: their
storage keys are object ids, so a full run rewrites them with new bytes):

    /usr/bin/python3 zoo/torchfile/testdata/gen_fixtures.py --onnx

writes only resnet18w8.onnx: the model exported by torch.onnx.export in
eval mode with TrainingMode.PRESERVE and do_constant_folding=False, which
keeps the BatchNormalization nodes unfused (no Conv+BN folding) and names
every initializer by its state-dict key. Its initializers are resnet18w8's
state dict without the num_batches_tracked buffers, which ONNX has no use
for; running_mean and running_var are there. The export is checked with
onnx.load: each of those keys is an initializer with torch's bytes.

Check mode verifies a file that the Go writer made:

    /usr/bin/python3 zoo/torchfile/testdata/gen_fixtures.py --check FILE [--against REF]

torch.load()s FILE (plain and weights_only=True), checks its zip layout
(CRCs, 64-byte-aligned data records) and compares it bit for bit, keys and
their order included, with REF loaded by torch, or, without --against, with
what go_written.pt must hold: dtypes.pt and views.pt under the prefixes
"dtypes." and "views.", int8/int16 widened to int32 and views made
contiguous (see TestGoWrittenFixture).

The real ResNet-18 (45 MB a file, not committed):

    /usr/bin/python3 zoo/torchfile/testdata/gen_fixtures.py --resnet18 DIR

writes DIR/resnet18.pt, resnet18_legacy.pt, resnet18.safetensors,
resnet18.onnx (exported as above) and resnet18.json (SHA-256 per tensor)
for torch.manual_seed(0);
torchvision.models.resnet18(); run the Go test with TAPIR_ZOO_FIXTURES=DIR.
"""
import argparse
import collections
import hashlib
import json
import math
import os
import struct
import sys
import zipfile

import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

HERE = os.path.dirname(os.path.abspath(__file__))

DTYPE_NAMES = {
    torch.float32: "float32", torch.float64: "float64", torch.float16: "float16",
    torch.bfloat16: "bfloat16", torch.int64: "int64", torch.int32: "int32",
    torch.int16: "int16", torch.int8: "int8", torch.uint8: "uint8", torch.bool: "bool",
}
FLOAT_BITS = {torch.float64: (torch.int64, 64), torch.float32: (torch.int32, 32),
              torch.float16: (torch.int16, 16), torch.bfloat16: (torch.int16, 16)}
ST_NAMES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16",
            torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32",
            torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL"}


def specials(dtype):
    """Values that stress a float format's encoding."""
    fi = torch.finfo(dtype)
    return [0.0, -0.0, 1.0, -1.0, float("inf"), float("-inf"), float("nan"), -float("nan"),
            fi.max, -fi.max, fi.tiny, fi.tiny / 4, fi.eps, 1 / 3]


def gen():
    return torch.Generator().manual_seed(20261121)


def make_dtypes():
    g = gen()
    sd = collections.OrderedDict()
    sd["layer1.0.conv1.weight"] = torch.randn(2, 3, 2, 2, generator=g)
    sd["f32"] = torch.cat([torch.tensor(specials(torch.float32)), torch.randn(6, generator=g)]).reshape(4, 5)
    sd["f64"] = torch.cat([torch.tensor(specials(torch.float64), dtype=torch.float64),
                           torch.randn(6, generator=g, dtype=torch.float64)]).reshape(4, 5)
    sd["f16"] = torch.cat([torch.tensor(specials(torch.float16), dtype=torch.float16),
                           torch.randn(6, generator=g).half()]).reshape(5, 4)
    sd["bf16"] = torch.cat([torch.tensor(specials(torch.bfloat16), dtype=torch.bfloat16),
                            torch.randn(6, generator=g).bfloat16()]).reshape(2, 10)
    sd["i64"] = torch.tensor([[-(2 ** 63), -1, 0], [1, 2 ** 53 + 1, 2 ** 63 - 1]], dtype=torch.int64)
    sd["i32"] = torch.tensor([-(2 ** 31), -1, 0, 1, 2 ** 31 - 1, 123456], dtype=torch.int32).reshape(3, 2)
    sd["i16"] = torch.tensor([-(2 ** 15), -1, 0, 1, 2 ** 15 - 1], dtype=torch.int16)
    sd["i8"] = torch.tensor([[-128, -1, 0], [1, 127, 42]], dtype=torch.int8)
    sd["u8"] = torch.tensor([0, 1, 127, 128, 255], dtype=torch.uint8)
    sd["bool"] = torch.tensor([[True, False, True], [False, False, True]])
    sd["scalar_f32"] = torch.tensor(3.5)
    sd["scalar_i64"] = torch.tensor(-7)
    sd["scalar_bool"] = torch.tensor(True)
    sd["scalar_f16"] = torch.tensor(-0.0, dtype=torch.float16)
    sd["empty"] = torch.zeros(0)
    sd["empty_f16"] = torch.zeros(2, 0, 3, dtype=torch.float16)
    sd["empty_i64"] = torch.zeros(0, 4, dtype=torch.int64)
    sd["five_d"] = torch.randn(1, 2, 1, 3, 2, generator=g, dtype=torch.float64)
    sd["bn.num_batches_tracked"] = torch.tensor(12345, dtype=torch.int64)
    sd["ünïcode.wéight"] = torch.arange(3, dtype=torch.float32)
    return sd


def make_views():
    g = gen()
    sd = collections.OrderedDict()
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    sd["base"] = base
    sd["base_again"] = base                  # the same tensor twice
    sd["row"] = base[1]                      # offset 6, contiguous
    sd["rows"] = base[1:3]                   # offset 6, 2x6
    sd["col"] = base[:, 2]                   # stride 6, offset 2
    sd["t"] = base.t()                       # transposed: a permutation
    sd["step"] = base[:, ::2]                # strides (6, 2)
    sd["elem"] = base[2, 3]                  # 0-d at offset 15
    sd["empty_view"] = base[:, 6:]           # [4, 0] at offset 6
    sd["perm3"] = torch.randn(2, 3, 4, generator=g).permute(2, 0, 1)
    big = torch.arange(100, dtype=torch.float64)
    sd["tail"] = big[90:]                    # a storage of 100 saved for 10
    sd["expand"] = torch.tensor([1, 2, 3], dtype=torch.int32).expand(4, 3)
    sd["expand_mid"] = torch.tensor([5.0, 6.0]).view(2, 1).expand(2, 3).unsqueeze(0)
    sd["f16_t"] = torch.randn(3, 5, generator=g).half().t()
    bf = torch.randn(4, 4, generator=g).bfloat16()
    sd["bf16_block"] = bf[1:3, 1:3]
    sd["bool_step"] = torch.tensor([True, False, False, True, True, False, True])[::2]
    sd["i8_view"] = torch.arange(-5, 5, dtype=torch.int8)[2:7]
    sd["i16_t"] = torch.arange(6, dtype=torch.int16).reshape(2, 3).t()
    sd["u8_row"] = torch.arange(12, dtype=torch.uint8).reshape(3, 4)[2]
    sd["odd"] = torch.arange(30, dtype=torch.int64).as_strided((2, 3), (10, 3), 1)
    return sd


def make_small():
    g = gen()
    sd = collections.OrderedDict()
    sd["fc.weight"] = torch.randn(3, 4, generator=g)
    sd["fc.bias"] = torch.randn(3, generator=g)
    sd["bn.running_mean"] = torch.randn(3, generator=g, dtype=torch.float64)
    sd["bn.num_batches_tracked"] = torch.tensor(9)
    sd["mask"] = torch.tensor([True, False, True])
    return sd


def make_module():
    torch.manual_seed(1)
    m = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.Flatten(), nn.Linear(3, 2))
    with torch.no_grad():
        m[1].running_mean.normal_()
        m[1].running_var.uniform_(0.5, 2)
        m[1].num_batches_tracked.fill_(4)
    return m.state_dict()


def make_params():
    g = gen()
    return {"w": nn.Parameter(torch.randn(2, 3, generator=g)),
            "b": nn.Parameter(torch.randn(3, generator=g).double(), requires_grad=False)}


class NarrowResNet(ResNet):
    """torchvision's ResNet with its stage widths (64, 128, 256, 512) scaled:
    the same modules, so the same state-dict keys as resnet18."""

    def __init__(self, widths=(8, 16, 32, 64), layers=(2, 2, 2, 2), num_classes=10):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = widths[0]
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(BasicBlock, widths[0], layers[0])
        self.layer2 = self._make_layer(BasicBlock, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(BasicBlock, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(BasicBlock, widths[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3] * BasicBlock.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


def make_resnet18w8():
    torch.manual_seed(0)
    m = NarrowResNet()
    with torch.no_grad():
        for i, mod in enumerate(mm for mm in m.modules() if isinstance(mm, nn.BatchNorm2d)):
            mod.weight.uniform_(0.5, 1.5)
            mod.bias.normal_(0, 0.1)
            mod.running_mean.normal_(0, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
            mod.num_batches_tracked.fill_(100 + i)
    sd = m.state_dict()
    assert list(sd.keys()) == list(torchvision.models.resnet18().state_dict().keys())
    return sd


class _StorageView:
    """A slice of a storage, as the legacy format could name one."""

    def __init__(self, key, offset, numel):
        self.key, self.offset, self.numel = key, offset, numel


class _Rebuild:
    """Pickles as the _rebuild_tensor_v2 call torch.save writes for a tensor."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


def save_legacy_views(path):
    """A legacy file whose persistent ids carry view_metadata (key, offset,
    size), which torch.load still reads and torch 1.13 no longer writes:
    written here with pickle, following serialization._legacy_save."""
    import pickle
    root = torch.arange(12, dtype=torch.float32) * 1.5
    whole = _StorageView(None, 0, 12)
    v1, v2 = _StorageView("v1", 2, 6), _StorageView("v2", 6, 6)
    obj = collections.OrderedDict()
    obj["a"] = _Rebuild(v1, 0, (2, 3), (3, 1))
    obj["b"] = _Rebuild(v2, 1, (2, 2), (1, 2))
    obj["c"] = _Rebuild(v1, 5, (), ())
    obj["whole"] = _Rebuild(whole, 0, (12,), (1,))

    class Pickler(pickle.Pickler):
        def persistent_id(self, o):
            if isinstance(o, _StorageView):
                view = None if o.key is None else (o.key, o.offset, o.numel)
                return ("storage", torch.FloatStorage, "root", "cpu", 12, view)
            return None

    sys_info = dict(protocol_version=1001, little_endian=True, type_sizes=dict(short=2, int=4, long=4))
    with open(path, "wb") as f:
        pickle.dump(0x1950a86a20f9469cfc6c, f, protocol=2)
        pickle.dump(1001, f, protocol=2)
        pickle.dump(sys_info, f, protocol=2)
        Pickler(f, protocol=2).dump(obj)
        pickle.dump(["root"], f, protocol=2)
        f.write(struct.pack("<q", 12))
        f.write(raw_bytes(root))


# ---- helpers

def raw_bytes(t):
    """The little-endian bytes of t's elements in row-major order."""
    t = t.detach().contiguous().reshape(-1)
    if t.dtype == torch.bool:
        t = t.view(torch.uint8)
    b = t.view(torch.uint8).numpy().tobytes()
    assert sys.byteorder == "little"
    return b


def bits(t):
    t = t.detach().contiguous().reshape(-1)
    if t.dtype in FLOAT_BITS:
        it, w = FLOAT_BITS[t.dtype]
        return [v & ((1 << w) - 1) for v in t.view(it).tolist()]
    if t.dtype == torch.bool:
        return [int(v) for v in t.tolist()]
    return t.tolist()


def describe(obj, with_values=True):
    """Sidecar entry of a loaded state dict: keys in order and per tensor."""
    ids = {}
    out = {"order": list(obj.keys()), "tensors": {}}
    for k, t in obj.items():
        sid = ids.setdefault(t.storage().data_ptr() if t.numel() else ("empty", k), len(ids))
        e = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "storage": sid,
             "offset": t.storage_offset(), "stride": list(t.stride())}
        if with_values:
            e["bits"] = bits(t)
        else:
            e["sha256"] = hashlib.sha256(raw_bytes(t)).hexdigest()
        out["tensors"][k] = e
    return out


def save_safetensors(path, sd):
    """A safetensors file written with struct and json: tensors in order, no padding between them."""
    header, blobs, off = {}, [], 0
    for k, t in sd.items():
        b = raw_bytes(t)
        header[k] = {"dtype": ST_NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def save_onnx(path, model, sd, size):
    """Exports model (whose state dict is sd) to ONNX with its BatchNorm
    unfused and every initializer named by its state-dict key, then checks
    with onnx.load that the initializers are sd bit for bit, less the
    num_batches_tracked buffers."""
    import io
    import onnx
    from onnx import numpy_helper
    model.load_state_dict(sd)
    model.eval()
    # The submodules are in eval mode, so BatchNormalization is the
    # inference op reading running_mean/var as initializers; PRESERVE and
    # no constant folding keep it a node of its own (TrainingMode.EVAL
    # folds it into the Conv and names the merged weights onnx::Conv_N).
    # The root module alone says training: torch 1.13's exporter then
    # merges only initializers that are the same tensor, where for a model
    # in eval mode it merges equal values under one name (resnet18's
    # default init has its BatchNorms' weights all 1, biases and means all
    # 0, variances all 1). TrainingMode.TRAINING would keep the names too,
    # but tracing a training forward updates the running statistics.
    model.training = True
    f = io.BytesIO()
    torch.onnx.export(model, torch.zeros(1, 3, size, size), f, opset_version=13,
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    b = f.getvalue()
    inits = {i.name: numpy_helper.to_array(i) for i in onnx.load_from_string(b).graph.initializer}
    want = collections.OrderedDict((k, t) for k, t in sd.items() if not k.endswith(".num_batches_tracked"))
    assert list(inits) == list(want), "initializers %s…, want %s…" % (list(inits)[:3], list(want)[:3])
    for k, t in want.items():
        a = inits[k]
        assert DTYPE_NAMES[t.dtype] == str(a.dtype) and list(a.shape) == list(t.shape), k
        assert a.tobytes() == raw_bytes(t), k + " differs from torch's tensor"
    assert any(n.op_type == "BatchNormalization" for n in onnx.load_from_string(b).graph.node)
    with open(path, "wb") as out:
        out.write(b)


def save_resnet18w8_onnx():
    save_onnx(os.path.join(HERE, "resnet18w8.onnx"), NarrowResNet(), make_resnet18w8(), 64)


def save_both(name, obj, **kw):
    torch.save(obj, os.path.join(HERE, name + ".pt"), **kw)
    torch.save(obj, os.path.join(HERE, name + "_legacy.pt"), _use_new_zipfile_serialization=False, **kw)


def load(path):
    return torch.load(path)


# ---- generation

def generate():
    side = {}

    def record(fname, sd, with_values=True):
        side[fname] = describe(sd, with_values)

    for name, make in [("dtypes", make_dtypes), ("views", make_views), ("module", make_module),
                       ("params", make_params)]:
        save_both(name, make())
        for f in (name + ".pt", name + "_legacy.pt"):
            record(f, load(os.path.join(HERE, f)))

    save_both("proto4", make_small(), pickle_protocol=4)
    for f in ("proto4.pt", "proto4_legacy.pt"):
        record(f, load(os.path.join(HERE, f)))

    ckpt = {"epoch": 7, "state_dict": make_small(),
            "optimizer": {"state": {0: {"momentum_buffer": torch.ones(3, 4)}},
                          "param_groups": [{"lr": 0.1, "momentum": 0.9, "params": [0]}]},
            "args": argparse.Namespace(arch="resnet18", lr=0.1, epochs=90)}
    save_both("nested", ckpt)
    for f in ("nested.pt", "nested_legacy.pt"):
        record(f, load(os.path.join(HERE, f))["state_dict"])
    save_both("model_key", {"model": make_small(), "lr": 0.1})
    for f in ("model_key.pt", "model_key_legacy.pt"):
        record(f, load(os.path.join(HERE, f))["model"])

    save_legacy_views(os.path.join(HERE, "legacy_views.pt"))
    record("legacy_views.pt", load(os.path.join(HERE, "legacy_views.pt")))

    # writer oracle: saved through a file object, so the archive is named "archive"
    g = gen()
    wo = collections.OrderedDict()
    wo["conv.weight"] = torch.randn(2, 1, 3, 3, generator=g)
    wo["f64"] = torch.randn(3, generator=g, dtype=torch.float64)
    wo["f16"] = torch.randn(2, 3, generator=g).half()
    wo["bf16"] = torch.randn(5, generator=g).bfloat16()
    wo["i64"] = torch.tensor([[-(2 ** 63), 300], [70000, 2 ** 63 - 1]])
    wo["i32"] = torch.tensor([-5, 2 ** 31 - 1], dtype=torch.int32)
    wo["u8"] = torch.tensor([0, 255, 7], dtype=torch.uint8)
    wo["bool"] = torch.tensor([True, False])
    wo["scalar"] = torch.tensor(2.5)
    wo["empty"] = torch.zeros(0, 3)
    wo["empty_inner"] = torch.zeros(2, 0, 3, dtype=torch.float16)
    wo["big_dim"] = torch.zeros(300, dtype=torch.uint8)
    with open(os.path.join(HERE, "writer_oracle.pt"), "wb") as f:
        torch.save(wo, f)
    record("writer_oracle.pt", load(os.path.join(HERE, "writer_oracle.pt")))

    # not loadable as state dicts
    torch.save([torch.ones(2), torch.zeros(3)], os.path.join(HERE, "list.pt"))
    torch.manual_seed(0)
    torch.save(nn.Linear(2, 2), os.path.join(HERE, "whole_module.pt"))
    torch.save({"ok": torch.ones(2), "overlap": torch.arange(10.0).as_strided((3, 4), (2, 1))},
               os.path.join(HERE, "overlap.pt"))
    torch.save({"ok": torch.ones(2), "z": torch.ones(2, dtype=torch.complex64)}, os.path.join(HERE, "complex.pt"))
    torch.jit.save(torch.jit.script(nn.Linear(2, 2)), os.path.join(HERE, "jit.pt"))

    rn = make_resnet18w8()
    save_both("resnet18w8", rn)
    save_safetensors(os.path.join(HERE, "resnet18w8.safetensors"), rn)
    save_resnet18w8_onnx()
    for f in ("resnet18w8.pt", "resnet18w8_legacy.pt"):
        record(f, load(os.path.join(HERE, f)), with_values=False)

    with open(os.path.join(HERE, "fixtures.json"), "w") as f:
        json.dump(side, f, indent=1, ensure_ascii=False, sort_keys=True)
        f.write("\n")


def gen_resnet18(d):
    os.makedirs(d, exist_ok=True)
    torch.manual_seed(0)
    sd = torchvision.models.resnet18().state_dict()
    torch.save(sd, os.path.join(d, "resnet18.pt"))
    torch.save(sd, os.path.join(d, "resnet18_legacy.pt"), _use_new_zipfile_serialization=False)
    save_safetensors(os.path.join(d, "resnet18.safetensors"), sd)
    save_onnx(os.path.join(d, "resnet18.onnx"), torchvision.models.resnet18(), sd, 224)
    with open(os.path.join(d, "resnet18.json"), "w") as f:
        json.dump(describe(torch.load(os.path.join(d, "resnet18.pt")), with_values=False), f, indent=1)
    print("wrote resnet18 fixtures to", d)


# ---- check mode

def expected_go_written():
    out = collections.OrderedDict()
    for prefix in ("dtypes", "views"):
        for k, t in load(os.path.join(HERE, prefix + ".pt")).items():
            if t.dtype in (torch.int8, torch.int16):
                t = t.to(torch.int32)
            out[prefix + "." + k] = t.contiguous()
    return out


def same_bits(a, b):
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return raw_bytes(a) == raw_bytes(b)


def check(path, against):
    want = load(against) if against else expected_go_written()
    problems = []
    for weights_only in (False, True):
        got = torch.load(path, weights_only=weights_only)
        if not isinstance(got, collections.OrderedDict):
            problems.append("top-level object is %s, not an OrderedDict" % type(got).__name__)
        if list(got.keys()) != list(want.keys()):
            problems.append("keys differ: %s vs %s" % (list(got.keys())[:5], list(want.keys())[:5]))
        for k, w in want.items():
            t = got.get(k)
            if t is None:
                continue
            if not same_bits(t, w):
                problems.append("%s: got %s %s, want %s %s" % (k, t.dtype, tuple(t.shape), w.dtype, tuple(w.shape)))
            if t.requires_grad:
                problems.append("%s requires grad" % k)
    storages = set()
    for k, t in got.items():
        p = t.storage().data_ptr()
        if t.numel() and p in storages:
            problems.append("%s shares a storage" % k)
        storages.add(p)
    with zipfile.ZipFile(path) as z:
        bad = z.testzip()
        if bad is not None:
            problems.append("bad CRC in " + bad)
        for info in z.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                problems.append(info.filename + " is compressed")
            with open(path, "rb") as f:
                f.seek(info.header_offset + 26)
                nlen, xlen = struct.unpack("<HH", f.read(4))
            start = info.header_offset + 30 + nlen + xlen
            if "/data/" in info.filename and start % 64:
                problems.append("%s starts at %d, not a multiple of 64" % (info.filename, start))
        names = z.namelist()
        prefix = names[0].split("/")[0]
        for need in ("data.pkl", "version", "byteorder"):
            if prefix + "/" + need not in names:
                problems.append("no record " + need)
        if z.read(prefix + "/version") != b"3\n":
            problems.append("version record is %r" % z.read(prefix + "/version"))
    if problems:
        print("FAIL", path)
        for p in problems:
            print("  ", p)
        sys.exit(1)
    print("OK %s: %d tensors load with torch %s and match %s bit for bit" %
          (path, len(want), torch.__version__, against or "dtypes.pt + views.pt"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", metavar="FILE")
    ap.add_argument("--against", metavar="REF")
    ap.add_argument("--resnet18", metavar="DIR")
    ap.add_argument("--onnx", action="store_true", help="write only resnet18w8.onnx")
    a = ap.parse_args()
    if a.onnx:
        save_resnet18w8_onnx()
    elif a.check:
        check(a.check, a.against)
    elif a.resnet18:
        gen_resnet18(a.resnet18)
    else:
        generate()


if __name__ == "__main__":
    main()
