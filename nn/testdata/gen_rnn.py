"""Writes rnn.json: fixtures for nn.RNN, nn.LSTM, nn.GRU (padded, unbatched
and packed input) and the cells, read by nn/rnn_test.go.

OPENBLAS_NUM_THREADS=1 /usr/bin/python3 nn/testdata/gen_rnn.py
"""
import os

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from layerfix import case, write

torch.set_num_threads(1)

IN, HID, STEPS, BATCH = 2, 3, 4, 2

MODES = {
    "rnn_tanh": lambda **kw: nn.RNN(nonlinearity="tanh", **kw),
    "rnn_relu": lambda **kw: nn.RNN(nonlinearity="relu", **kw),
    "lstm": lambda **kw: nn.LSTM(**kw),
    "gru": lambda **kw: nn.GRU(**kw),
}

DTYPES = {"float32": torch.float32, "float64": torch.float64}

# name → options; every option missing takes its default below
VARIANTS = {
    "1layer": {},
    "2layer_bidir_h0": {"layers": 2, "bidirectional": True, "initial": True},
    "batch_first_h0": {"batch_first": True, "initial": True},
    "no_bias": {"bias": False},
    "unbatched_bidir_h0": {"bidirectional": True, "initial": True, "unbatched": True},
}

F32_VARIANTS = {"1layer", "2layer_bidir_h0"}

seed = 0


def next_seed():
    global seed
    seed += 1
    torch.manual_seed(seed)
    return seed


def layer_case(name, mode, dtype, opts):
    s = next_seed()
    cfg = {
        "mode": mode,
        "input_size": IN,
        "hidden_size": HID,
        "layers": opts.get("layers", 1),
        "bidirectional": opts.get("bidirectional", False),
        "batch_first": opts.get("batch_first", False),
        "bias": opts.get("bias", True),
        "proj_size": opts.get("proj_size", 0),
        "initial": opts.get("initial", False),
        "unbatched": opts.get("unbatched", False),
    }
    kw = dict(input_size=IN, hidden_size=HID, num_layers=cfg["layers"],
              bidirectional=cfg["bidirectional"], batch_first=cfg["batch_first"], bias=cfg["bias"])
    if cfg["proj_size"]:
        kw["proj_size"] = cfg["proj_size"]
    m = MODES[mode](**kw).to(DTYPES[dtype])
    dt = DTYPES[dtype]
    d = 2 if cfg["bidirectional"] else 1
    ld = cfg["layers"] * d
    hout = cfg["proj_size"] or HID
    packed = "lengths" in opts
    if cfg["unbatched"]:
        x = torch.randn(STEPS, IN, dtype=dt)
        hshape, cshape = (ld, hout), (ld, HID)
    else:
        batch = len(opts["lengths"]) if packed else BATCH
        x = torch.randn(batch, STEPS, IN, dtype=dt) if cfg["batch_first"] else torch.randn(STEPS, batch, IN, dtype=dt)
        hshape, cshape = (ld, batch, hout), (ld, batch, HID)
    inputs = [x]
    if cfg["initial"]:
        inputs.append(torch.randn(*hshape, dtype=dt))
        if mode == "lstm":
            inputs.append(torch.randn(*cshape, dtype=dt))

    if packed:
        cfg["lengths"] = opts["lengths"]
        cfg["enforce_sorted"] = opts.get("enforce_sorted", False)
        cfg["total_length"] = opts.get("total_length", 0)

        def forward(mod, x, *state):
            p = pack_padded_sequence(x, cfg["lengths"], batch_first=cfg["batch_first"],
                                     enforce_sorted=cfg["enforce_sorted"])
            st = None
            if state:
                st = tuple(state) if mode == "lstm" else state[0]
            out, hn = mod(p, st)
            y, _ = pad_packed_sequence(out, batch_first=cfg["batch_first"],
                                       total_length=cfg["total_length"] or None)
            return y, hn
    else:
        def forward(mod, x, *state):
            st = None
            if state:
                st = tuple(state) if mode == "lstm" else state[0]
            return mod(x, st)

    return case(name, m, inputs, forward=forward, config=cfg, seed=s)


def cell_case(name, kind, dtype, nonlinearity="tanh", bias=True, initial=True, unbatched=False):
    s = next_seed()
    dt = DTYPES[dtype]
    if kind == "rnn":
        m = nn.RNNCell(IN, HID, bias=bias, nonlinearity=nonlinearity)
    elif kind == "lstm":
        m = nn.LSTMCell(IN, HID, bias=bias)
    else:
        m = nn.GRUCell(IN, HID, bias=bias)
    m = m.to(dt)
    batch = 3
    shape = (IN,) if unbatched else (batch, IN)
    hshape = (HID,) if unbatched else (batch, HID)
    inputs = [torch.randn(*shape, dtype=dt)]
    if initial:
        inputs.append(torch.randn(*hshape, dtype=dt))
        if kind == "lstm":
            inputs.append(torch.randn(*hshape, dtype=dt))

    def forward(mod, x, *state):
        if not state:
            return mod(x)
        return mod(x, tuple(state) if kind == "lstm" else state[0])

    cfg = {"cell": kind, "input_size": IN, "hidden_size": HID, "nonlinearity": nonlinearity,
           "bias": bias, "initial": initial}
    return case(name, m, inputs, forward=forward, config=cfg, seed=s)


def main():
    cases = []
    # Every variant in float64; float32 for those in F32_VARIANTS (the
    # fixtures stay small and float32 still runs every code path).
    for mode in MODES:
        for dtype in DTYPES:
            for vname, opts in VARIANTS.items():
                if dtype == "float32" and vname not in F32_VARIANTS:
                    continue
                cases.append(layer_case("%s_%s_%s" % (mode, vname, dtype), mode, dtype, opts))
            # variable lengths, unsorted, 2 layers both ways, initial states
            if mode != "rnn_relu" and (dtype == "float64" or mode == "lstm"):
                cases.append(layer_case("%s_packed_unsorted_%s" % (mode, dtype), mode, dtype,
                                        {"layers": 2, "bidirectional": True, "initial": True,
                                         "lengths": [3, 4, 2]}))
    cases.append(layer_case("lstm_proj_2layer_bidir_h0_float64", "lstm", "float64",
                            {"layers": 2, "bidirectional": True, "initial": True, "proj_size": 2}))
    # sorted lengths with ties, batch first, padded past the longest sequence
    cases.append(layer_case("gru_packed_sorted_batch_first_float64", "gru", "float64",
                            {"bidirectional": True, "batch_first": True, "lengths": [4, 2, 2, 1],
                             "enforce_sorted": True, "total_length": 5}))
    cases.append(layer_case("lstm_packed_ties_proj_float64", "lstm", "float64",
                            {"bidirectional": True, "initial": True, "proj_size": 2,
                             "lengths": [2, 4, 2, 1]}))
    for dtype in DTYPES:
        cases.append(cell_case("rnncell_tanh_" + dtype, "rnn", dtype))
        cases.append(cell_case("rnncell_relu_" + dtype, "rnn", dtype, nonlinearity="relu"))
        cases.append(cell_case("lstmcell_" + dtype, "lstm", dtype))
        cases.append(cell_case("grucell_" + dtype, "gru", dtype))
    cases.append(cell_case("lstmcell_no_bias_zero_state_float64", "lstm", "float64", bias=False, initial=False))
    cases.append(cell_case("grucell_no_bias_zero_state_float64", "gru", "float64", bias=False, initial=False))
    cases.append(cell_case("rnncell_unbatched_float64", "rnn", "float64", unbatched=True))
    cases.append(cell_case("lstmcell_unbatched_float32", "lstm", "float32", unbatched=True))
    cases.append(cell_case("grucell_unbatched_float64", "gru", "float64", unbatched=True))
    write(os.path.join(os.path.dirname(os.path.abspath(__file__)), "rnn.json"), cases)


if __name__ == "__main__":
    main()
