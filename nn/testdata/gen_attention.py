"""Writes attention.json: fixtures for nn.MultiheadAttention and the
Transformer layers (nn/attention_test.go, nn/transformer_test.go).

Run from the repository root with Debian's PyTorch 1.13:

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 nn/testdata/gen_attention.py

Every case runs in eval mode (or with dropout 0), so it is deterministic.
The inputs require grad, which keeps torch 1.13 off its inference fast
paths (_native_multi_head_attention, _transformer_encoder_layer_fwd): the
fixtures record the regular math. Sizes are small (embed 8, 2 heads,
sequences of 3 to 5, batch 2) to keep the file small.
"""
import os
import struct
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from layerfix import case, write  # noqa: E402

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

E, H = 8, 2  # MultiheadAttention cases
D, FF = 4, 6  # Transformer cases: d_model (2 heads of 2) and dim_feedforward
N, L, S = 2, 3, 5

# The MultiheadAttention variants that also get a float32 case (all get a
# float64 one), to keep the file small.
F32_MHA = {"self", "cross_kpm", "kvdim", "biaskv_zeroattn"}


def short(t):
    # Four decimals keep the file small; the values are exact on both sides.
    return torch.round(t * 1e4) / 1e4


def rnd(*shape, dtype):
    return short(torch.randn(*shape, dtype=torch.float64)).to(dtype)


def randomize(m, dtype):
    """Replaces every parameter by N(0, 0.5²) noise (biases too, which
    torch initializes to zero), so a wrong slice or a missing bias shows."""
    m.to(dtype)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(short(torch.randn(p.shape, dtype=torch.float64) * 0.5))
    return m


def causal_bool(l, s):
    # True above the diagonal: masked out, as torch 1.13's MHA reads a bool mask.
    return torch.ones(l, s, dtype=torch.bool).triu(1)


def kpm(n, s):
    # Each sequence has some padding at its end, never all of it.
    m = torch.zeros(n, s, dtype=torch.bool)
    for i in range(n):
        m[i, s - 1 - i:] = True
    return m


def mha_forward(need_weights=True, average=True, self_attn=False):
    def f(m, q, k, v, key_padding_mask, attn_mask):
        if self_attn:
            k = v = q
        return m(q, k, v, key_padding_mask=key_padding_mask, need_weights=need_weights,
                 attn_mask=attn_mask, average_attn_weights=average)
    return f


def mha_cases(dtype):
    cases = []
    dt = str(dtype).replace("torch.", "")

    def add(name, cfg, q, k, v, key_padding_mask=None, attn_mask=None, need_weights=True, average=True):
        if dtype == torch.float32 and name not in F32_MHA:
            return
        torch.manual_seed(len(cases) + 100 * (dtype == torch.float64))
        m = nn.MultiheadAttention(E, H, bias=not cfg.get("no_bias", False),
                                  add_bias_kv=cfg.get("add_bias_kv", False),
                                  add_zero_attn=cfg.get("add_zero_attn", False),
                                  kdim=cfg.get("kdim"), vdim=cfg.get("vdim"),
                                  batch_first=cfg.get("batch_first", False))
        randomize(m, dtype)
        self_attn = k is None
        config = dict(cfg, embed=E, heads=H, self_attn=self_attn, need_weights=need_weights, average=average)
        cases.append(case("mha_%s_%s" % (name, dt), m, [q, k, v, key_padding_mask, attn_mask],
                          forward=mha_forward(need_weights, average, self_attn), config=config,
                          seed=len(cases), train=False))

    torch.manual_seed(7 + (dtype == torch.float64))
    # self-attention, sequence first, averaged weights
    add("self", {}, rnd(L, N, E, dtype=dtype), None, None)
    # cross-attention with key padding, per-head weights
    add("cross_kpm", {}, rnd(L, N, E, dtype=dtype), rnd(S, N, E, dtype=dtype), rnd(S, N, E, dtype=dtype),
        key_padding_mask=kpm(N, S), average=False)
    # bool causal mask, batch first
    add("bool_mask", {"batch_first": True}, rnd(N, S, E, dtype=dtype), None, None,
        attn_mask=causal_bool(S, S))
    # float 3-d mask (N·heads, L, S) with key padding, which masks it further
    fm = rnd(N * H, L, S, dtype=dtype)
    add("float_mask3d", {}, rnd(L, N, E, dtype=dtype), rnd(S, N, E, dtype=dtype), rnd(S, N, E, dtype=dtype),
        key_padding_mask=kpm(N, S), attn_mask=fm)
    # float 2-d mask with -inf entries (generate_square_subsequent_mask)
    add("float_causal", {}, rnd(L, N, E, dtype=dtype), None, None,
        attn_mask=nn.Transformer.generate_square_subsequent_mask(L).to(dtype))
    # kdim/vdim: separate projection weights, batch first, no weights
    add("kvdim", {"kdim": 6, "vdim": 5, "batch_first": True},
        rnd(N, L, E, dtype=dtype), rnd(N, S, 6, dtype=dtype), rnd(N, S, 5, dtype=dtype),
        key_padding_mask=kpm(N, S), need_weights=False)
    # unbatched input, 1-d key padding mask and a 3-d (heads, L, S) bool mask
    um = torch.zeros(H, L, S, dtype=torch.bool)
    um[0, 0, 1] = um[1, 2, 0] = um[1, 1, 3] = True
    add("unbatched", {}, rnd(L, E, dtype=dtype), rnd(S, E, dtype=dtype), rnd(S, E, dtype=dtype),
        key_padding_mask=torch.tensor([False, False, False, False, True]), attn_mask=um, average=False)
    # no bias, bias_k/bias_v and a zero attention slot, with both masks
    add("biaskv_zeroattn", {"no_bias": True, "add_bias_kv": True, "add_zero_attn": True},
        rnd(L, N, E, dtype=dtype), rnd(S, N, E, dtype=dtype), rnd(S, N, E, dtype=dtype),
        key_padding_mask=kpm(N, S), attn_mask=causal_bool(L, S))
    return cases


def enc_cfg(cfg):
    return dict(d_model=D, nhead=H, dim_feedforward=FF, dropout=0.1,
                activation=cfg.get("activation", "relu"), layer_norm_eps=cfg.get("eps", 1e-5),
                batch_first=cfg.get("batch_first", False), norm_first=cfg.get("norm_first", False))


def transformer_cases(dtype):
    cases = []
    dt = str(dtype).replace("torch.", "")

    def seq(l, cfg):
        return rnd(N, l, D, dtype=dtype) if cfg.get("batch_first") else rnd(l, N, D, dtype=dtype)

    def add(kind, name, cfg, m, inputs, forward):
        randomize(m, dtype)
        config = dict(cfg, kind=kind, d_model=D, heads=H, dim_ff=FF)
        cases.append(case("%s_%s_%s" % (kind, name, dt), m, inputs, forward=forward, config=config,
                          seed=len(cases), train=False))

    def enc_fwd(m, src, mask, kpm_):
        return m(src, src_mask=mask, src_key_padding_mask=kpm_)

    def dec_fwd(m, tgt, mem, tgt_mask, mem_mask, tgt_kpm, mem_kpm):
        return m(tgt, mem, tgt_mask=tgt_mask, memory_mask=mem_mask,
                 tgt_key_padding_mask=tgt_kpm, memory_key_padding_mask=mem_kpm)

    torch.manual_seed(11 + (dtype == torch.float64))
    # encoder layer: post-norm, relu, float causal mask, sequence first
    cfg = {}
    add("enc", "post_relu", cfg, nn.TransformerEncoderLayer(**enc_cfg(cfg)),
        [seq(S, cfg), nn.Transformer.generate_square_subsequent_mask(S).to(dtype), None], enc_fwd)
    # encoder layer: norm first, gelu, key padding, batch first, other eps
    cfg = {"norm_first": True, "activation": "gelu", "batch_first": True, "eps": 1e-3}
    add("enc", "pre_gelu", cfg, nn.TransformerEncoderLayer(**enc_cfg(cfg)),
        [seq(S, cfg), None, kpm(N, S)], enc_fwd)
    # decoder layer: post-norm, causal tgt mask, memory key padding
    cfg = {}
    add("dec", "post_relu", cfg, nn.TransformerDecoderLayer(**enc_cfg(cfg)),
        [seq(L, cfg), seq(S, cfg), nn.Transformer.generate_square_subsequent_mask(L).to(dtype), None, None,
         kpm(N, S)], dec_fwd)
    # decoder layer: norm first, gelu, batch first, bool memory mask and tgt padding
    cfg = {"norm_first": True, "activation": "gelu", "batch_first": True}
    mm = torch.zeros(L, S, dtype=torch.bool)
    mm[0, 4] = mm[2, 1] = True
    add("dec", "pre_gelu", cfg, nn.TransformerDecoderLayer(**enc_cfg(cfg)),
        [seq(L, cfg), seq(S, cfg), None, mm, kpm(N, L), None], dec_fwd)
    # encoder stack: 2 layers and a final norm
    cfg = {"layers": 2, "final_norm": True}
    m = nn.TransformerEncoder(nn.TransformerEncoderLayer(**enc_cfg(cfg)), 2, nn.LayerNorm(D))
    add("encoder", "stack2", cfg, m,
        [seq(S, cfg), nn.Transformer.generate_square_subsequent_mask(S).to(dtype), kpm(N, S)],
        lambda m, src, mask, kpm_: m(src, mask=mask, src_key_padding_mask=kpm_))
    # decoder stack: 2 layers and a final norm, batch first
    cfg = {"layers": 2, "final_norm": True, "batch_first": True}
    m = nn.TransformerDecoder(nn.TransformerDecoderLayer(**enc_cfg(cfg)), 2, nn.LayerNorm(D))
    add("decoder", "stack2", cfg, m,
        [seq(L, cfg), seq(S, cfg), nn.Transformer.generate_square_subsequent_mask(L).to(dtype), None, None,
         kpm(N, S)], dec_fwd)
    # the whole nn.Transformer: 1 encoder and 1 decoder layer
    cfg = {"enc_layers": 1, "dec_layers": 1}
    m = nn.Transformer(d_model=D, nhead=H, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=FF)

    def tr_fwd(m, src, tgt, tgt_mask, src_kpm):
        return m(src, tgt, tgt_mask=tgt_mask, src_key_padding_mask=src_kpm, memory_key_padding_mask=src_kpm)
    add("transformer", "1x1", cfg, m,
        [seq(S, cfg), seq(L, cfg), nn.Transformer.generate_square_subsequent_mask(L).to(dtype), kpm(N, S)], tr_fwd)
    return cases


def short32(v):
    """The shortest decimal that turns back into the float32 v when read
    as a float64 and then rounded to float32 (what the Go reader does)."""
    if not isinstance(v, float):
        return v
    want = struct.pack("<f", v)
    for digits in range(1, 10):
        s = float("%.*g" % (digits, v))
        if struct.pack("<f", s) == want:
            return s
    return v


def compact(c):
    """Writes float32 tensors with their shortest float32 digits: the same
    values, in about half the bytes."""
    def fix(t):
        if isinstance(t, dict) and t.get("dtype") == "float32":
            t["data"] = [short32(v) for v in t["data"]]
    for key in ("state", "grads", "buffers_after"):
        for t in c[key].values():
            fix(t)
    for key in ("inputs", "outputs", "cotangents"):
        for t in c[key]:
            fix(t)
    return c


def main():
    cases = []
    for dtype in (torch.float32, torch.float64):
        cases += mha_cases(dtype)
        cases += transformer_cases(dtype)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "attention.json")
    write(out, [compact(c) for c in cases])
    print("wrote %d cases to %s (%d bytes)" % (len(cases), out, os.path.getsize(out)))


if __name__ == "__main__":
    main()
