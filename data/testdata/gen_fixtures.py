#!/usr/bin/python3
"""Writes fixtures.json, the independent oracle for package data's tests.

Run from anywhere with Debian's python3 (numpy, torch 1.13, torchvision 0.14)
and the dataset-fashion-mnist package installed:

    /usr/bin/python3 data/testdata/gen_fixtures.py

Nothing here uses Tapir: the Fashion-MNIST facts come from a gzip+numpy
reader written after the dataset's own utils/mnist_reader.py, the sampler,
padding and transform outputs from torch and torchvision themselves.
"""
import gzip
import json
import os

import numpy as np
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DistributedSampler

HERE = os.path.dirname(os.path.abspath(__file__))
FASHION = "/usr/share/datasets/fashion-mnist"


def read_idx_gz(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def fashion():
    out = {"dir": FASHION}
    for split, kind in (("train", "train"), ("test", "t10k")):
        labels = read_idx_gz(os.path.join(FASHION, f"{kind}-labels-idx1-ubyte.gz"), 8)
        images = read_idx_gz(os.path.join(FASHION, f"{kind}-images-idx3-ubyte.gz"), 16)
        images = images.reshape(len(labels), 28, 28)
        n = len(labels)
        picks = [0, 1, 2, 7, 999, n // 2, n - 1]
        probes = []
        for i in picks:
            for (r, c) in ((0, 0), (14, 14), (10, 5), (27, 27), (20, 13)):
                probes.append({"index": i, "row": r, "col": c, "value": int(images[i, r, c])})
        out[split] = {
            "count": int(n),
            "histogram": np.bincount(labels, minlength=10).tolist(),
            "first_labels": labels[:20].tolist(),
            "picks": picks,
            "pick_labels": [int(labels[i]) for i in picks],
            "pick_sums": [int(images[i].astype(np.int64).sum()) for i in picks],
            "probes": probes,
            "mean": float(images.astype(np.float64).mean() / 255.0),
        }
    return out


class Dummy:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


def distributed():
    cases = []
    for n, world, drop_last in ((10, 3, False), (10, 3, True), (2, 5, False), (12, 4, False), (7, 2, True), (1, 4, False)):
        ranks = []
        for rank in range(world):
            s = DistributedSampler(Dummy(n), num_replicas=world, rank=rank, shuffle=False, drop_last=drop_last)
            ranks.append(list(iter(s)))
        cases.append({"n": n, "world": world, "drop_last": drop_last, "ranks": ranks, "len": len(ranks[0])})
    return cases


def padding():
    seqs = [torch.arange(1, 7, dtype=torch.float32).reshape(3, 2),
            torch.tensor([[7.0, 8.0]]),
            torch.tensor([[9.0, 10.0], [11.0, 12.0]])]
    out = {"seqs": [s.tolist() for s in seqs], "pad": -1.0}
    for bf in (False, True):
        p = pad_sequence(seqs, batch_first=bf, padding_value=-1.0)
        out["batch_first" if bf else "time_first"] = {"shape": list(p.shape), "data": p.flatten().tolist()}
    return out


def transforms():
    x = (torch.arange(3 * 5 * 7) % 17).to(torch.float32).reshape(3, 5, 7) / 16.0
    cases = {}

    def add(name, y):
        cases[name] = {"shape": list(y.shape), "data": y.flatten().tolist()}

    add("normalize", T.Normalize(mean=[0.5, 0.4, 0.3], std=[0.2, 0.25, 0.3])(x))
    add("center_crop_3", T.CenterCrop(3)(x))
    add("center_crop_4x2", T.CenterCrop((4, 2))(x))
    add("center_crop_2x6", T.CenterCrop((2, 6))(x))
    add("center_crop_9", T.CenterCrop(9)(x))  # pads: larger than the image
    add("resize_3x4", T.Resize((3, 4), interpolation=T.InterpolationMode.BILINEAR, antialias=False)(x))
    add("resize_short_4", T.Resize(4, interpolation=T.InterpolationMode.BILINEAR, antialias=False)(x))
    add("resize_8x10", T.Resize((8, 10), interpolation=T.InterpolationMode.BILINEAR, antialias=False)(x))
    add("hflip", TF.hflip(x))
    # RandomCrop(4, padding=2) once its random offsets are chosen: pad, then crop
    add("pad2_crop_top1_left6", TF.crop(TF.pad(x, 2), 1, 6, 4, 4))
    add("pad2_crop_top0_left0", TF.crop(TF.pad(x, 2), 0, 0, 4, 4))
    return {"input": {"shape": list(x.shape), "data": x.flatten().tolist()}, "cases": cases}


def image_folder():
    # the order and labels torchvision gives the empty placeholder files of
    # testdata/imagefolder (ImageFolder opens no file when indexing)
    from torchvision.datasets import ImageFolder
    root = os.path.join(HERE, "imagefolder")
    f = ImageFolder(root)  # its default extensions include .png, .jpg, .jpeg
    return {"classes": f.classes,
            "samples": [[os.path.relpath(p, root), label] for p, label in f.samples]}


def main():
    fix = {"distributed": distributed(), "pad_sequence": padding(), "transforms": transforms(),
           "image_folder": image_folder()}
    if os.path.isdir(FASHION):
        fix["fashion_mnist"] = fashion()
    with open(os.path.join(HERE, "fixtures.json"), "w") as f:
        json.dump(fix, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
