#!/usr/bin/python3
"""Writes the PyTorch oracle fixtures that package optim's tests compare with.

Run with Debian's PyTorch (1.13):

    apt-get install python3-torch
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 optim/testdata/gen_optim.py

It writes, next to this script:

  optim.json       the problem (fixed A, B, c, initial parameters) and, for
                   every optimizer configuration, the parameters after each
                   of 20 steps and torch's state dict after the last one.
  schedulers.json  learning rates (and the cycled momentum) of every group
                   after construction and after each scheduler step.
  clip.json        clip_grad_norm_ / clip_grad_value_ inputs and outputs.

The problem is a fixed smooth function of four parameters of different
shapes, W [3 2], v [5], u [] and z [2]:

    loss = sum((A @ W - B)^2) + c * sum(sin(v)) + (u*u - 1)^2

z takes no part in it, so its gradient stays None and every optimizer
must leave it alone. Every step sets the gradients to None, computes the
loss, calls backward and steps, as the Go test does. Nothing here is
copied from the Go code: this script is the only source of the expected
values.
"""
import json
import math
import os

import torch

torch.manual_seed(20260107)
torch.set_num_threads(1)
HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = 20


def flat(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


def jfloat(v):
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


# ---- the problem -----------------------------------------------------------
A = torch.randn(4, 3, dtype=torch.float64)
B = torch.randn(4, 2, dtype=torch.float64)
C = 0.7
INIT = [
    torch.randn(3, 2, dtype=torch.float64) * 0.5,  # W
    torch.randn(5, dtype=torch.float64),           # v
    torch.tensor(0.3, dtype=torch.float64),        # u (0-d)
    torch.randn(2, dtype=torch.float64),           # z (never gets a gradient)
]
NAMES = ["W", "v", "u", "z"]


def loss_fn(ps, a, b):
    W, v, u, _ = ps
    return ((a @ W - b) ** 2).sum() + C * torch.sin(v).sum() + (u * u - 1) ** 2


OPTIMS = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
    "adadelta": torch.optim.Adadelta,
}

# torch's defaults, spelled out for groups added with add_param_group so that
# an option a group leaves out takes torch's default (the Go rule) and not
# the first group's value (torch's add_param_group rule).
DEFAULTS = {
    "sgd": dict(momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False),
    "adam": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, maximize=False),
    "adamw": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, maximize=False),
    "rmsprop": dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, maximize=False),
    "adagrad": dict(lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, maximize=False),
    "adadelta": dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, maximize=False),
}

CASES = []


def case(name, optim, groups, dtype="float64"):
    """groups: list of (param indices, options); one group = one list item."""
    CASES.append(dict(name=name, optim=optim, groups=groups, dtype=dtype))


ALL = [0, 1, 2, 3]


def single(name, optim, opts, dtype="float64"):
    case(name, optim, [(ALL, opts)], dtype)


# SGD: each option on, then combinations and two groups.
single("sgd", "sgd", dict(lr=0.05))
single("sgd_momentum", "sgd", dict(lr=0.05, momentum=0.9))
single("sgd_dampening", "sgd", dict(lr=0.05, momentum=0.9, dampening=0.3))
single("sgd_nesterov", "sgd", dict(lr=0.05, momentum=0.9, nesterov=True))
single("sgd_weight_decay", "sgd", dict(lr=0.05, weight_decay=0.1))
single("sgd_maximize", "sgd", dict(lr=0.01, maximize=True))
single("sgd_all", "sgd", dict(lr=0.01, momentum=0.8, weight_decay=0.05, nesterov=True, maximize=True))
case("sgd_groups", "sgd", [([0], dict(lr=0.05, momentum=0.9)),
                           ([1, 2, 3], dict(lr=0.1, momentum=0.5, nesterov=True, weight_decay=0.01))])
single("sgd_momentum_f32", "sgd", dict(lr=0.05, momentum=0.9), "float32")

# Adam
single("adam_defaults", "adam", dict())
single("adam", "adam", dict(lr=0.05))
single("adam_betas", "adam", dict(lr=0.05, betas=(0.5, 0.9)))
single("adam_beta1_zero", "adam", dict(lr=0.05, betas=(0.0, 0.99)))
single("adam_eps", "adam", dict(lr=0.05, eps=1e-3))
single("adam_weight_decay", "adam", dict(lr=0.05, weight_decay=0.1))
single("adam_amsgrad", "adam", dict(lr=0.05, amsgrad=True))
single("adam_maximize", "adam", dict(lr=0.05, maximize=True))
single("adam_all", "adam", dict(lr=0.05, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.05, amsgrad=True, maximize=True))
case("adam_groups", "adam", [([0, 2], dict(lr=0.05, amsgrad=True)),
                             ([1, 3], dict(lr=0.02, betas=(0.8, 0.99), weight_decay=0.05))])
single("adam_f32", "adam", dict(lr=0.05), "float32")

# AdamW
single("adamw_defaults", "adamw", dict())
single("adamw", "adamw", dict(lr=0.05))
single("adamw_weight_decay", "adamw", dict(lr=0.05, weight_decay=0.2))
single("adamw_no_weight_decay", "adamw", dict(lr=0.05, weight_decay=0.0))
single("adamw_amsgrad", "adamw", dict(lr=0.05, amsgrad=True, weight_decay=0.1))
single("adamw_maximize", "adamw", dict(lr=0.05, maximize=True, betas=(0.7, 0.9)))
case("adamw_groups", "adamw", [([1], dict(lr=0.05, weight_decay=0.0)),
                               ([0, 2, 3], dict(lr=0.03, amsgrad=True, eps=1e-4))])

# RMSprop
single("rmsprop_defaults", "rmsprop", dict())
single("rmsprop_alpha", "rmsprop", dict(lr=0.01, alpha=0.9))
single("rmsprop_eps", "rmsprop", dict(lr=0.01, eps=1e-2))
single("rmsprop_weight_decay", "rmsprop", dict(lr=0.01, weight_decay=0.1))
single("rmsprop_momentum", "rmsprop", dict(lr=0.01, momentum=0.9))
single("rmsprop_centered", "rmsprop", dict(lr=0.01, centered=True))
single("rmsprop_centered_momentum", "rmsprop", dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.05))
single("rmsprop_maximize", "rmsprop", dict(lr=0.01, maximize=True, momentum=0.3))
case("rmsprop_groups", "rmsprop", [([0, 1], dict(lr=0.02, centered=True)),
                                   ([2, 3], dict(lr=0.01, momentum=0.9, alpha=0.95))])
single("rmsprop_centered_f32", "rmsprop", dict(lr=0.01, centered=True), "float32")

# Adagrad
single("adagrad_defaults", "adagrad", dict())
single("adagrad", "adagrad", dict(lr=0.1))
single("adagrad_lr_decay", "adagrad", dict(lr=0.1, lr_decay=0.05))
single("adagrad_weight_decay", "adagrad", dict(lr=0.1, weight_decay=0.1))
single("adagrad_initial_accumulator", "adagrad", dict(lr=0.1, initial_accumulator_value=0.5))
single("adagrad_eps", "adagrad", dict(lr=0.1, eps=1e-3))
single("adagrad_maximize", "adagrad", dict(lr=0.1, maximize=True))
case("adagrad_groups", "adagrad", [([0], dict(lr=0.1, lr_decay=0.1)),
                                   ([1, 2, 3], dict(lr=0.05, initial_accumulator_value=0.1, weight_decay=0.02))])

# Adadelta
single("adadelta_defaults", "adadelta", dict())
single("adadelta_lr", "adadelta", dict(lr=0.5))
single("adadelta_rho", "adadelta", dict(rho=0.5))
single("adadelta_eps", "adadelta", dict(eps=1e-4))
single("adadelta_weight_decay", "adadelta", dict(weight_decay=0.1))
single("adadelta_maximize", "adadelta", dict(maximize=True))
case("adadelta_groups", "adadelta", [([2, 3], dict(lr=2.0, rho=0.8)),
                                     ([0, 1], dict(eps=1e-5, weight_decay=0.05))])


def enc_value(v):
    if isinstance(v, torch.Tensor):
        return {"shape": list(v.shape), "data": [jfloat(x) for x in v.detach().double().reshape(-1).tolist()]}
    if isinstance(v, bool):
        return {"shape": [], "data": [1.0 if v else 0.0], "bool": True}
    if isinstance(v, (int, float)):
        return {"shape": [], "data": [jfloat(v)]}
    if isinstance(v, (tuple, list)):
        return {"shape": [len(v)], "data": [jfloat(x) for x in v]}
    raise TypeError(type(v))


def run_case(c):
    dt = torch.float64 if c["dtype"] == "float64" else torch.float32
    ps = [p.clone().to(dt).requires_grad_(True) for p in INIT]
    a, b = A.to(dt), B.to(dt)
    cls = OPTIMS[c["optim"]]
    groups = c["groups"]
    idx0, opts0 = groups[0]
    more = []
    for idx, opts in groups[1:]:
        full = dict(DEFAULTS[c["optim"]])
        full.update(opts)
        full["params"] = [ps[i] for i in idx]
        more.append(full)
    if c["optim"] == "adagrad":
        # torch 1.13's Adagrad makes its state in __init__ only, so a group
        # added later fails in step(); pass all groups to the constructor.
        opt = cls([dict(params=[ps[i] for i in idx0])] + more, **opts0, foreach=False)
        # torch fills every group's sum with the constructor's
        # initial_accumulator_value; Tapir (documented) uses each group's own.
        for g in opt.param_groups:
            for p in g["params"]:
                opt.state[p]["sum"].fill_(g["initial_accumulator_value"])
    else:
        opt = cls([ps[i] for i in idx0], **opts0, foreach=False)
        for g in more:
            opt.add_param_group(g)
    traj = []
    for _ in range(STEPS):
        opt.zero_grad(set_to_none=True)
        loss_fn(ps, a, b).backward()
        opt.step()
        traj.append([x for p in ps for x in flat(p)])
    sd = opt.state_dict()
    state = {}
    for pi, st in sd["state"].items():
        for k, v in st.items():
            if v is not None:  # SGD without momentum keeps momentum_buffer=None
                state[f"state.{pi}.{k}"] = enc_value(v)
    skip = {"params", "foreach", "differentiable", "capturable", "fused"}
    pgroups = {}
    for gi, g in enumerate(sd["param_groups"]):
        for k, v in g.items():
            if k not in skip:
                pgroups[f"param_groups.{gi}.{k}"] = enc_value(v)
        pgroups[f"param_groups.{gi}.params"] = enc_value([float(i) for i in g["params"]])
    return dict(name=c["name"], optim=c["optim"], dtype=c["dtype"],
                groups=[dict(params=idx, options={k: (list(v) if isinstance(v, tuple) else v)
                                                  for k, v in opts.items()}) for idx, opts in groups],
                traj=traj, state=state, param_groups=pgroups)


def write(name, obj):
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(obj, f, separators=(",", ":"), sort_keys=True)
        f.write("\n")


write("optim.json", dict(
    steps=STEPS,
    problem=dict(A=enc_value(A), B=enc_value(B), c=C,
                 init=[enc_value(p) for p in INIT], names=NAMES),
    cases=[run_case(c) for c in CASES]))


# ---- schedulers --------------------------------------------------------------
# Each case builds an optimizer with two groups on dummy parameters (no
# gradients, so optimizer.step() changes nothing), makes the schedulers,
# and records every group's lr (and momentum, where cycled) right after
# construction and after each step.

SCHED = []


def sched(name, optim, opts, schedulers, steps, metrics=None):
    SCHED.append(dict(name=name, optim=optim, opts=opts, schedulers=schedulers,
                      steps=steps, metrics=metrics))


SGD2 = [dict(lr=0.1, momentum=0.9), dict(lr=0.05, momentum=0.8)]
ADAM2 = [dict(lr=0.01, betas=(0.9, 0.99)), dict(lr=0.002, betas=(0.8, 0.999))]
ADAGRAD2 = [dict(lr=0.1), dict(lr=0.03)]

sched("step_lr", "sgd", SGD2, [("StepLR", dict(step_size=3, gamma=0.5))], 25)
sched("step_lr_gamma", "sgd", SGD2, [("StepLR", dict(step_size=1, gamma=0.9))], 25)
sched("multistep_lr", "sgd", SGD2, [("MultiStepLR", dict(milestones=[3, 7, 7, 12], gamma=0.3))], 25)
sched("exponential_lr", "sgd", SGD2, [("ExponentialLR", dict(gamma=0.9))], 30)
sched("cosine", "sgd", SGD2, [("CosineAnnealingLR", dict(T_max=10, eta_min=0.001))], 40)
sched("cosine_eta0", "adam", ADAM2, [("CosineAnnealingLR", dict(T_max=7))], 30)
sched("linear_warmup", "sgd", SGD2, [("LinearLR", dict(start_factor=0.25, end_factor=1.0, total_iters=8))], 20)
sched("linear_decay", "sgd", SGD2, [("LinearLR", dict(start_factor=1.0, end_factor=0.1, total_iters=10))], 20)
sched("linear_defaults", "adam", ADAM2, [("LinearLR", dict())], 20)
sched("chained_step_exp", "sgd", SGD2, [("StepLR", dict(step_size=4, gamma=0.5)),
                                        ("ExponentialLR", dict(gamma=0.95))], 30)
sched("chained_warmup_cosine", "sgd", SGD2, [("LinearLR", dict(start_factor=0.1, total_iters=5)),
                                             ("CosineAnnealingLR", dict(T_max=20, eta_min=0.0))], 30)
sched("onecycle", "sgd", SGD2, [("OneCycleLR", dict(max_lr=0.5, total_steps=30))], 30)
sched("onecycle_per_group", "sgd", SGD2, [("OneCycleLR", dict(
    max_lr=[0.5, 0.2], total_steps=25, pct_start=0.25, anneal_strategy="linear",
    div_factor=10.0, final_div_factor=100.0, base_momentum=0.8, max_momentum=0.9))], 25)
sched("onecycle_three_phase", "sgd", SGD2, [("OneCycleLR", dict(max_lr=1.0, total_steps=40, three_phase=True))], 40)
sched("onecycle_adam", "adam", ADAM2, [("OneCycleLR", dict(max_lr=0.01, total_steps=30, pct_start=0.4))], 30)
sched("onecycle_no_momentum", "adagrad", ADAGRAD2, [("OneCycleLR", dict(
    max_lr=0.3, total_steps=20, cycle_momentum=False))], 20)

METRICS = [1.0, 0.9, 0.85, 0.85, 0.86, 0.8500001, 0.84, 0.84, 0.84, 0.84,
           0.7, 0.71, 0.72, 0.73, 0.74, 0.75, 0.69, 0.69, 0.69, 0.69,
           0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
sched("plateau_min", "sgd", SGD2, [("ReduceLROnPlateau", dict(patience=2))], 30, METRICS)
sched("plateau_defaults", "sgd", SGD2, [("ReduceLROnPlateau", dict())], 30, METRICS)
sched("plateau_cooldown", "sgd", SGD2, [("ReduceLROnPlateau", dict(
    patience=1, factor=0.5, cooldown=2, threshold=0.01))], 30, METRICS)
sched("plateau_abs_min_lr", "sgd", SGD2, [("ReduceLROnPlateau", dict(
    patience=0, factor=0.5, threshold_mode="abs", threshold=0.005, min_lr=[0.02, 0.01]))], 30, METRICS)
sched("plateau_max", "sgd", SGD2, [("ReduceLROnPlateau", dict(
    mode="max", patience=1, factor=0.2, threshold=0.0, min_lr=0.001))], 30, [-m for m in METRICS])
sched("plateau_eps", "sgd", [dict(lr=1e-6), dict(lr=0.05)], [("ReduceLROnPlateau", dict(
    patience=0, factor=0.5, eps=1e-6))], 30, METRICS)


def run_sched(c):
    ps = [torch.zeros(2, requires_grad=True) for _ in c["opts"]]
    groups = [dict(params=[p], **o) for p, o in zip(ps, c["opts"])]
    opt = OPTIMS[c["optim"]](groups, lr=0.1)
    ss = [getattr(torch.optim.lr_scheduler, n)(opt, **kw) for n, kw in c["schedulers"]]

    def momenta():
        out = []
        for g in opt.param_groups:
            if "betas" in g:
                out.append(g["betas"][0])
            else:
                out.append(g.get("momentum", 0.0))
        return out

    lrs = [[g["lr"] for g in opt.param_groups]]
    moms = [momenta()]
    for i in range(c["steps"]):
        opt.step()
        for s in ss:
            if c["metrics"] is not None:
                s.step(c["metrics"][i])
            else:
                s.step()
        lrs.append([g["lr"] for g in opt.param_groups])
        moms.append(momenta())
    return dict(name=c["name"], optim=c["optim"],
                opts=[{k: (list(v) if isinstance(v, tuple) else v) for k, v in o.items()} for o in c["opts"]],
                schedulers=[dict(kind=n, args=kw) for n, kw in c["schedulers"]],
                steps=c["steps"], metrics=c["metrics"], lrs=lrs, momentum=moms)


write("schedulers.json", dict(cases=[run_sched(c) for c in SCHED]))


# ---- gradient clipping ---------------------------------------------------------
CLIP = []
for name, dt, max_norm, norm_type in [
        ("l2_clipped", torch.float64, 1.0, 2.0),
        ("l2_unclipped", torch.float64, 100.0, 2.0),
        ("l1", torch.float64, 2.0, 1.0),
        ("l3", torch.float64, 0.5, 3.0),
        ("inf", torch.float64, 0.3, math.inf),
        ("l2_f32", torch.float32, 1.0, 2.0),
        ("inf_f32", torch.float32, 0.3, math.inf)]:
    grads = [torch.randn(3, 4, dtype=dt), torch.randn(5, dtype=dt) * 2, torch.randn((), dtype=dt)]
    ps = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for p, g in zip(ps, grads):
        p.grad = g.clone()
    extra = torch.zeros(2, dtype=dt, requires_grad=True)  # no grad: ignored
    total = torch.nn.utils.clip_grad_norm_(ps + [extra], max_norm, norm_type)
    CLIP.append(dict(name=name, kind="norm", dtype=str(dt).replace("torch.", ""),
                     max_norm=max_norm, norm_type=jfloat(norm_type),
                     grads=[enc_value(g) for g in grads], total=float(total),
                     clipped=[enc_value(p.grad) for p in ps]))
for name, dt, clip in [("value", torch.float64, 0.5), ("value_f32", torch.float32, 0.8)]:
    grads = [torch.randn(3, 4, dtype=dt), torch.randn(5, dtype=dt) * 2]
    ps = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for p, g in zip(ps, grads):
        p.grad = g.clone()
    torch.nn.utils.clip_grad_value_(ps, clip)
    CLIP.append(dict(name=name, kind="value", dtype=str(dt).replace("torch.", ""), clip=clip,
                     grads=[enc_value(g) for g in grads], clipped=[enc_value(p.grad) for p in ps]))
write("clip.json", dict(cases=CLIP))
