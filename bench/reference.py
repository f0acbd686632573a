"""bench/reference.py - the PyTorch side of bench/run.py: the benchmark workloads written in plain PyTorch.

Same rows, flags and JSON line as `cargo bench --bench nasl -- <row> ...` (benches/nasl.rs):
    python bench/reference.py <spos|fairnas|darts|gdas|eval|path|standalone> --net NET.json
        [--batch N] [--steps N] [--warmup N] [--threads N] [--seed N]
NET.json is `cargo bench --bench nasl -- dump <chain|darts>`: nasl's IR of the space with every candidate
(and, for the chain, the fixed architecture of row 5 alone). The op modules below are written by hand as a
PyTorch user would write them, mirroring src/compile/mod.rs op for op (conv/bn/relu order, padding, bias,
BN eps/momentum/affine, DARTS sep/dil conv, factorized reduce, zero); the supernet is an nn.Module holding
every candidate module (one ModuleList) and running, per forward, the chosen candidates of each decision,
summing (weighted) candidate outputs where several run. The wiring (which node reads which) comes from the
dump, so the two networks are identical by construction; equal parameter counts are checked by run.py.
"""

import argparse
import gzip
import json
import os
import random
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN, STD = 0.2860, 0.3530


# --- ops, as in src/compile/mod.rs -------------------------------------------------------------------


def conv(cin, cout, k, stride=1, dil=1, groups=1, bias=False):
    return nn.Conv2d(cin, cout, k, stride, padding=(k // 2) * dil, dilation=dil, groups=groups, bias=bias)


def bn(c, op, affine):
    return nn.BatchNorm2d(c, eps=op["eps"], momentum=op["momentum"], affine=affine)


class SepConv(nn.Module):
    def __init__(self, cin, op):
        super().__init__()
        k, s, a = op["kernel"], op["stride"], op["affine"]
        self.dw1, self.pw1 = conv(cin, cin, k, s, 1, cin), conv(cin, cin, 1)
        self.bn1 = bn(cin, op, a)
        self.dw2, self.pw2 = conv(cin, cin, k, 1, 1, cin), conv(cin, op["out"], 1)
        self.bn2 = bn(op["out"], op, a)

    def forward(self, x):
        h = F.relu(self.bn1(self.pw1(self.dw1(F.relu(x)))))
        return self.bn2(self.pw2(self.dw2(h)))


class DilConv(nn.Module):
    def __init__(self, cin, op):
        super().__init__()
        self.dw = conv(cin, cin, op["kernel"], op["stride"], op["dilation"], cin)
        self.pw = conv(cin, op["out"], 1)
        self.bn = bn(op["out"], op, op["affine"])

    def forward(self, x):
        return self.bn(self.pw(self.dw(F.relu(x))))


class ReluConvBn(nn.Module):
    def __init__(self, cin, op):
        super().__init__()
        self.conv = conv(cin, op["out"], op["kernel"], op["stride"])
        self.bn = bn(op["out"], op, op["affine"])

    def forward(self, x):
        return self.bn(self.conv(F.relu(x)))


class FactorizedReduce(nn.Module):
    def __init__(self, cin, op):
        super().__init__()
        self.conv1 = conv(cin, op["out"] // 2, 1, 2)
        self.conv2 = conv(cin, op["out"] // 2, 1, 2)
        self.bn = bn(op["out"], op, op["affine"])

    def forward(self, x):
        r = F.relu(x)
        return self.bn(torch.cat([self.conv1(r), self.conv2(r[:, :, 1:, 1:])], 1))


class Zero(nn.Module):
    def __init__(self, op):
        super().__init__()
        self.stride, self.out = op["stride"], op["out"]

    def forward(self, x):
        one = x.narrow(1, 0, 1)
        if x.dim() == 4:
            s = self.stride
            return torch.zeros_like(one[:, :, ::s, ::s]).expand(-1, self.out, -1, -1)
        return torch.zeros_like(one).expand(-1, self.out)


class Fn(nn.Module):
    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, x):
        return self.f(x)


def make_op(op, cin):
    kind, k, s = op["kind"], op["kernel"], op["stride"]
    if kind == "conv":
        return conv(cin, op["out"], k, s, op["dilation"], op["groups"], op["bias"])
    if kind == "dw_conv":
        return conv(cin, cin, k, s, op["dilation"], cin)
    if kind == "batch_norm":
        return bn(cin, op, op["affine"])
    if kind == "relu":
        return nn.ReLU()
    if kind == "sep_conv":
        return SepConv(cin, op)
    if kind == "dil_conv":
        return DilConv(cin, op)
    if kind == "relu_conv_bn":
        return ReluConvBn(cin, op)
    if kind == "factorized_reduce" or (kind == "skip" and s > 1):
        return FactorizedReduce(cin, op)
    if kind == "skip":
        return nn.Identity() if cin == op["out"] else ReluConvBn(cin, dict(op, kernel=1))
    if kind == "max_pool":
        return nn.MaxPool2d(k, s, k // 2)
    if kind == "avg_pool":
        return nn.AvgPool2d(k, s, k // 2, count_include_pad=False)
    if kind == "zero":
        return Zero(op)
    if kind == "global_avg_pool":
        return Fn(lambda x: x.mean((2, 3)))
    if kind == "linear":
        return nn.Linear(cin, op["out"], bias=op["bias"])
    if kind == "dropout":
        return nn.Dropout(op["p"])
    raise ValueError(f"op {kind} is not mirrored in bench/reference.py")


def channels(shape):
    return shape["Map"]["c"] if "Map" in shape else shape["Vec"]["n"]


# --- the supernet -----------------------------------------------------------------------------------


class Supernet(nn.Module):
    """Every candidate of every decision; forward(x, picks, weights) runs, per decision, the options in
    picks[d] (all nodes when picks is None) and scales a candidate's output by weights[(d, o)] if given."""

    def __init__(self, net):
        super().__init__()
        nodes = net["nodes"]
        self.ops = nn.ModuleList()
        self.plan = []  # (kind, module index, inputs, choice, exit)
        consumers_other = [False] * len(nodes)
        for n in nodes:
            for i in n["inputs"]:
                c = nodes[i]["choice"]
                if c is not None and n["choice"] != c:
                    consumers_other[i] = True
        for idx, n in enumerate(nodes):
            kind = n["kind"] if isinstance(n["kind"], str) else "Op"
            m = -1
            if kind == "Op":
                cin = channels(nodes[n["inputs"][0]]["shape"])
                self.ops.append(make_op(n["kind"]["Op"], cin))
                m = len(self.ops) - 1
            choice = tuple(n["choice"]) if n["choice"] is not None else None
            self.plan.append((kind, m, n["inputs"], choice, consumers_other[idx]))

    def forward(self, x, picks=None, weights=None):
        vals = []
        for kind, m, inputs, choice, exit_ in self.plan:
            if choice is not None and picks is not None and choice[1] not in picks[choice[0]]:
                vals.append(None)
                continue
            if kind == "Input":
                v = x
            elif kind == "Op":
                v = self.ops[m](vals[inputs[0]])
            elif kind == "Sum":
                v = None
                for i in inputs:
                    if vals[i] is not None:
                        v = vals[i] if v is None else v + vals[i]
            elif kind == "Concat":
                v = torch.cat([vals[i] for i in inputs], 1)
            else:  # Output
                v = vals[inputs[0]]
            if weights is not None and exit_ and choice in weights:
                v = v * weights[choice]
            vals.append(v)
        return vals[-1]

    def modules_on(self, picks):
        """The op modules a path runs."""
        return [
            self.ops[m] for kind, m, _, choice, _ in self.plan
            if kind == "Op" and (choice is None or choice[1] in picks[choice[0]])
        ]


# --- data and measurement ---------------------------------------------------------------------------


def fashion_mnist(n):
    d = os.environ.get("NASL_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")

    def read(stem):
        p = os.path.join(d, stem)
        return gzip.open(p + ".gz").read() if os.path.exists(p + ".gz") else open(p, "rb").read()

    img, lab = read("train-images-idx3-ubyte"), read("train-labels-idx1-ubyte")
    n = min(n, 60000)
    x = torch.frombuffer(bytearray(img[16:16 + n * 784]), dtype=torch.uint8).view(n, 1, 28, 28)
    y = torch.frombuffer(bytearray(lab[8:8 + n]), dtype=torch.uint8).long()
    return x, y


def prepare(u8):
    return (u8.float() / 255.0 - MEAN) / STD


def batches(b, k):
    x, y = fashion_mnist(b * k)
    return [(prepare(x[i * b:(i + 1) * b]), y[i * b:(i + 1) * b]) for i in range(k)]


def status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return float(line.split()[1])
    return float("nan")


class Mem:
    def __init__(self):
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass
        self.base = status_kb("VmRSS:")

    def peak_mb(self):
        return (status_kb("VmHWM:") - self.base) / 1024.0


WARMUP_S = [0.0]


def timed(warmup, steps, step):
    """(steps per second, peak MB) of `steps` timed steps after `warmup` untimed ones, whose time (with
    --compile: torch.compile's compilation, which happens there) goes to WARMUP_S."""
    mem = Mem()
    t = time.perf_counter()
    for i in range(warmup):
        step(i)
    WARMUP_S[0] = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(steps):
        step(warmup + i)
    return steps / (time.perf_counter() - t), mem.peak_mb()


COMPILE = [False]


def compiled(net):
    """`net` itself, or with --compile `torch.compile(net)` (inductor, default mode): what a
    performance-minded PyTorch user would add. It compiles on the first calls (in the warm-up) and
    again for each new set of picks, up to dynamo's recompile limit, after which it runs eagerly."""
    return torch.compile(net) if COMPILE[0] else net


def nparams(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def bench_genome(k, choices):
    """The k-th architecture of the benchmark's sampling sequence (bench_genome in benches/nasl.rs)."""
    m = (1 << 64) - 1
    s = (k * 0x9E3779B97F4A7C15 + 1) & m
    out = []
    for n in choices:
        s = (s * 6364136223846793005 + 1442695040888963407) & m
        out.append((s >> 33) % n)
    return out


def fixed_genome(decisions):
    return [i % 2 for i in range(len(decisions))]


# --- rows --------------------------------------------------------------------------------------------


def supernet_row(a, dump, sampler):
    module = Supernet(dump["supernet"])
    module.train()
    net = compiled(module)
    ch = [len(d["labels"]) for d in dump["decisions"]]
    data = batches(a.batch, 8)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=4e-5)
    rng = random.Random(a.seed)
    fixed = fixed_genome(dump["decisions"])

    def step(i):
        if sampler == "fair":  # FairNAS strict fairness: per decision a permutation, m paths
            m = max(ch)
            perms = [rng.sample(range(n), n) for n in ch]
            paths = [[{p[j % n]} for p, n in zip(perms, ch)] for j in range(m)]
        elif sampler == "fixed":
            paths = [[{o} for o in fixed]]
        else:
            paths = [[{o} for o in bench_genome(a.seed + i, ch)]]
        x, y = data[i % len(data)]
        opt.zero_grad()
        for picks in paths:
            logits = net(x, picks)
            loss = F.cross_entropy(logits, y)
            loss.backward()
            loss.item()
            (logits.argmax(-1) == y).sum().item()
        opt.step()

    sps, peak = timed(a.warmup, a.steps, step)
    return {"steps_per_s": sps, "peak_rss_mb": peak, "params": nparams(module)}


def standalone_row(a, dump):
    module = Supernet(dump["standalone"])
    module.train()
    net = compiled(module)
    data = batches(a.batch, 8)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=4e-5)

    def step(i):
        x, y = data[i % len(data)]
        opt.zero_grad()
        logits = net(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        loss.item()
        (logits.argmax(-1) == y).sum().item()
        opt.step()

    sps, peak = timed(a.warmup, a.steps, step)
    return {"steps_per_s": sps, "peak_rss_mb": peak, "params": nparams(module)}


def relaxed_weights(alpha, tau, force=None):
    """DARTS: softmax(alpha) on every option; GDAS (tau): Gumbel-softmax, the argmax option only, with
    the straight-through weight 1 - soft[k].detach() + soft[k]. Returns (picks, weights). `force`: the
    options nasl's run drew (its `picks`), run instead of this draw's argmax so both sides run the
    same candidates; the work per step is the same either way."""
    d, n = alpha.shape
    if tau is None:
        w = F.softmax(alpha, -1)
        picks = [set(range(n)) for _ in range(d)]
        return picks, {(i, o): w[i][o] for i in range(d) for o in range(n)}
    u = torch.rand_like(alpha).clamp(1e-10, 1.0)
    g = -(-u.log()).log()
    soft = F.softmax((alpha + g) / tau, -1)
    k = soft.argmax(-1).tolist()
    if force is not None:
        k = force
    weights = {}
    for i in range(d):
        s = soft[i][k[i]]
        weights[(i, k[i])] = (1.0 - s.detach()) + s
    return [{k[i]} for i in range(d)], weights


def relaxed_row(a, dump, gdas):
    module = Supernet(dump["supernet"])
    module.train()
    net = compiled(module)
    data = batches(a.batch, 8)
    n_ops = max(len(d["labels"]) for d in dump["decisions"])
    alpha = (torch.randn(len(dump["decisions"]), n_ops) * 1e-3).requires_grad_(True)
    arch_opt = torch.optim.Adam([alpha], lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    w_opt = torch.optim.SGD(net.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    tau = 10.0 if gdas else None
    forced = []
    if gdas and a.picks:
        with open(a.picks) as f:
            forced = json.load(f)["picks"]

    def force(j):
        return forced[j % len(forced)] if forced else None

    def step(i):
        (xv, yv), (xt, yt) = data[(2 * i) % len(data)], data[(2 * i + 1) % len(data)]
        arch_opt.zero_grad()
        picks, w = relaxed_weights(alpha, tau, force(2 * i))
        F.cross_entropy(net(xv, picks, w), yv).backward()
        arch_opt.step()
        w_opt.zero_grad()
        picks, w = relaxed_weights(alpha.detach(), tau, force(2 * i + 1))
        loss = F.cross_entropy(net(xt, picks, w), yt)
        loss.backward()
        loss.item()
        nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        w_opt.step()

    sps, peak = timed(a.warmup, a.steps, step)
    return {"steps_per_s": sps, "peak_rss_mb": peak, "params": nparams(module)}


def eval_row(a, dump):
    net = Supernet(dump["supernet"])
    ch = [len(d["labels"]) for d in dump["decisions"]]
    x, y = fashion_mnist(3024)
    recal, val = x[:1024], (x[1024:3024], y[1024:3024])
    acc = [0.0]

    def step(i):
        t0 = time.perf_counter()
        picks = [{o} for o in bench_genome(a.seed + i, ch)]
        bns = [m for m in net.modules_on(picks) for m in m.modules() if isinstance(m, nn.BatchNorm2d)]
        saved = [b.momentum for b in bns]
        for b in bns:
            b.reset_running_stats()
            b.momentum = None  # cumulative average over the recalibration batches
        net.train()
        with torch.no_grad():
            for i in range(0, 1024, 256):
                net(prepare(recal[i:i + 256]), picks)
            t1 = time.perf_counter()
            for b, m in zip(bns, saved):
                b.momentum = m
            net.eval()
            correct, n = 0, 0
            for i in range(0, val[0].shape[0], a.batch):
                logits = net(prepare(val[0][i:i + a.batch]), picks)
                yb = val[1][i:i + a.batch]
                F.cross_entropy(logits, yb).item()
                correct += (logits.argmax(-1) == yb).sum().item()
                n += yb.shape[0]
        acc[0] += correct / n
        if os.environ.get("NASL_BENCH_PHASES"):
            t2 = time.perf_counter()
            print(f"recalibrate {t1 - t0:.3f}s validate {t2 - t1:.3f}s", file=sys.stderr)

    cps, peak = timed(a.warmup, a.steps, step)
    return {"steps_per_s": cps, "peak_rss_mb": peak, "params": nparams(net), "mean_acc": acc[0]}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("row")
    p.add_argument("--net", required=True, help="JSON from `cargo bench --bench nasl -- dump <space>`")
    p.add_argument("--batch", type=int, default=0)
    p.add_argument("--steps", type=int, default=0)
    p.add_argument("--warmup", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.add_argument("--picks", help="gdas: JSON with the `picks` a nasl run drew, to run the same candidates")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the network (training rows); warmup_s includes the compilation")
    a = p.parse_args()
    COMPILE[0] = a.compile
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    b, s, w = {"darts": (32, 5, 1), "gdas": (32, 12, 2), "eval": (500, 5, 1),
               "path": (64, 80, 10), "standalone": (64, 80, 10)}.get(a.row, (64, 30, 5))
    a.batch, a.steps, a.warmup = a.batch or b, a.steps or s, a.warmup or w
    with open(a.net) as f:
        dump = json.load(f)
    rows = {
        "spos": lambda: supernet_row(a, dump, "uniform"),
        "fairnas": lambda: supernet_row(a, dump, "fair"),
        "path": lambda: supernet_row(a, dump, "fixed"),
        "standalone": lambda: standalone_row(a, dump),
        "darts": lambda: relaxed_row(a, dump, False),
        "gdas": lambda: relaxed_row(a, dump, True),
        "eval": lambda: eval_row(a, dump),
    }
    out = rows[a.row]()
    out.update(row=a.row, impl="torch.compile" if a.compile else "pytorch", batch=a.batch, steps=a.steps,
               threads=torch.get_num_threads(), warmup_s=WARMUP_S[0])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
