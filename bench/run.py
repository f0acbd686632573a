"""bench/run.py - the benchmark driver of issue 7: nasl versus the same workloads in plain PyTorch.

Builds the nasl bench binary (benches/nasl.rs) and the release `nasl` once, then for each row runs nasl
and bench/reference.py alternately, R times each, every run in a fresh process on the same threads and
the same libtorch, and prints a markdown table of medians; writes bench/results.json.
Run it with the venv's python (scripts/bench.sh does): python bench/run.py [--rows spos,eval] [-r 5]
    [--threads N] [--steps N] [--quick]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (label, row, space, extra flags); rows sharing a number are one table section.
WORKLOADS = [
    ("1. SPOS uniform, batch 64", "spos", "chain", ["--batch", "64"]),
    ("1. SPOS uniform, batch 256", "spos", "chain", ["--batch", "256"]),
    ("2. FairNAS strict fairness (3 paths), batch 64", "fairnas", "chain", ["--batch", "64"]),
    ("3. DARTS 1st-order step, batch 32", "darts", "darts", ["--batch", "32"]),
    ("3. GDAS step, batch 32", "gdas", "darts", ["--batch", "32"]),
    ("4. candidate eval (BN recal 1024 + val 2000), cand/s", "eval", "chain", ["--batch", "500"]),
    ("5. single path in the supernet, batch 64", "path", "chain", ["--batch", "64"]),
    ("5. same arch standalone, batch 64", "standalone", "chain", ["--batch", "64"]),
]


def sh(cmd, env=None, capture=True):
    r = subprocess.run(cmd, cwd=ROOT, env=env, text=True, capture_output=capture)
    if r.returncode != 0:
        sys.stderr.write(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr if capture else ''}\n")
        sys.exit(1)
    return r.stdout


def build():
    """The bench executable (cargo bench --no-run) and the release nasl binary."""
    out = sh(["cargo", "bench", "--bench", "nasl", "--no-run", "--message-format=json"])
    exe = None
    for line in out.splitlines():
        try:
            m = json.loads(line)
        except json.JSONDecodeError:
            continue
        t = m.get("target", {})
        if m.get("reason") == "compiler-artifact" and t.get("name") == "nasl" and "bench" in t.get("kind", []):
            exe = m.get("executable") or exe
    if not exe:
        sys.exit("could not find the bench executable in cargo's output")
    sh(["cargo", "build", "--release", "--bin", "nasl"], capture=False)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return exe, os.path.join(target, "release", "nasl")


def run_json(cmd, env):
    out = sh(cmd, env=env)
    return json.loads(out.strip().splitlines()[-1])


def ratios(num, den, key="steps_per_s"):
    """Per repeat, num[i][key] / den[i][key]: runs of the same repeat ran back to back."""
    return [n[key] / d[key] for n, d in zip(num, den)]


def paired(num, den, key="steps_per_s"):
    """The median over repeats of num[i][key] / den[i][key]."""
    return statistics.median(ratios(num, den, key))


def spread(rs):
    """'median [min-max]' of per-repeat ratios."""
    if len(rs) < 2:
        return f"{statistics.median(rs):.2f}"
    return f"{statistics.median(rs):.2f} [{min(rs):.2f}-{max(rs):.2f}]"


def med(runs, key):
    vals = [r[key] for r in runs if key in r]
    return statistics.median(vals) if vals else float("nan")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", default="spos,fairnas,darts,gdas,eval,path,standalone,check")
    p.add_argument("-r", "--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--steps", type=int, default=0, help="timed steps per run (default: per row)")
    p.add_argument("--quick", action="store_true", help="1 repeat, few steps: a smoke run")
    p.add_argument("--torch-compile", action="store_true",
                   help="add a torch.compile column to the training rows (bench/reference.py --compile)")
    p.add_argument("--exe", help="use this bench executable instead of building one (row 6 still builds nasl)")
    p.add_argument("--baseline-exe",
                   help="a bench executable of another nasl build (e.g. main's), run as a third side "
                        "interleaved with the others: the nasl/baseline column is this build's speed-up")
    p.add_argument("--pytorch-malloc-like-nasl", action="store_true",
                   help="run the PyTorch side with the glibc malloc settings nasl applies to itself "
                        "(src/exec/malloc.rs), to separate the allocator from the rest")
    a = p.parse_args()
    if a.quick:
        a.repeats, a.steps = 1, a.steps or 3
    rows = a.rows.split(",")
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    if a.exe:
        exe = a.exe
        nasl_bin = None
        if "check" in rows:
            _, nasl_bin = build()
    else:
        exe, nasl_bin = build()
    ref_env = dict(env)
    if a.pytorch_malloc_like_nasl:
        ref_env.update(run_json([exe, "malloc-env"], env))
    tmp = tempfile.mkdtemp(prefix="nasl-bench-")
    nets = {}
    for space in ("chain", "darts"):
        nets[space] = os.path.join(tmp, f"{space}.json")
        with open(nets[space], "w") as f:
            f.write(sh([exe, "dump", space], env=env))
    common = ["--threads", str(a.threads)] + (["--steps", str(a.steps)] if a.steps else [])
    if a.quick:
        common += ["--warmup", "1"]
    results = {"threads": a.threads, "repeats": a.repeats, "rows": [],
               "pytorch_malloc_like_nasl": a.pytorch_malloc_like_nasl,
               "load_before": os.getloadavg()}
    impls = ["nasl", "pytorch"]
    if a.baseline_exe:
        impls.append("baseline")
    if a.torch_compile:
        impls.append("compiled")
    # Rows sharing a number (1: two batch sizes, 3: DARTS and GDAS, 5: path and standalone) are one
    # group: each repeat runs every workload of the group on both sides back to back, so that ratios
    # can be taken within a repeat (paired), which cancels the slow drifts of a shared machine.
    groups = {}
    for w in WORKLOADS:
        if w[1] in rows:
            groups.setdefault(w[0].split(".")[0], []).append(w)
    for group in groups.values():
        runs = {w[0]: {impl: [] for impl in impls} for w in group}
        for i in range(a.repeats):
            # Every side runs once per repeat, in an order that rotates (and reverses) from repeat to
            # repeat, so that a load that comes and goes hits all sides alike.
            order = impls[i % len(impls):] + impls[:i % len(impls)]
            if (i // len(impls)) % 2 == 1:
                order.reverse()
            for label, row, space, extra in group:
                picks = os.path.join(tmp, f"{row}_picks.json")
                if not os.path.exists(picks) and row == "gdas" and order[0] != "nasl":
                    order = ["nasl"] + [o for o in order if o != "nasl"]
                for impl in order:
                    if impl == "compiled" and row == "eval":
                        continue
                    if impl in ("nasl", "baseline"):
                        cmd = [exe if impl == "nasl" else a.baseline_exe, row] + extra + common
                    else:
                        cmd = [sys.executable, os.path.join(ROOT, "bench", "reference.py"), row,
                               "--net", nets[space]] + extra + common
                        if impl == "compiled":
                            cmd.append("--compile")
                        if os.path.exists(picks):
                            cmd += ["--picks", picks]
                    out = run_json(cmd, ref_env if impl in ("pytorch", "compiled") else env)
                    out["load"] = os.getloadavg()[0]
                    # GDAS: the candidates nasl's first run drew are the ones PyTorch runs (the first
                    # repeat runs nasl first; every nasl run of a seed draws the same ones).
                    if out.get("picks") and not os.path.exists(picks):
                        with open(picks, "w") as f:
                            json.dump({"picks": out["picks"]}, f)
                    out.pop("picks", None)
                    runs[label][impl].append(out)
            sys.stderr.write(f"{', '.join(w[0] for w in group)}: repeat {i + 1}/{a.repeats} done\n")
        for label, row, _, _ in group:
            r = runs[label]
            entry = {"label": label, "row": row, "runs": r,
                     "ratios": ratios(r["nasl"], r["pytorch"])}
            for impl in impls:
                if r[impl]:
                    entry[impl] = {k: med(r[impl], k)
                                   for k in ("steps_per_s", "peak_rss_mb", "params", "warmup_s")}
            entry["ratio"] = statistics.median(entry["ratios"])
            if r.get("baseline"):
                entry["baseline_ratios"] = ratios(r["nasl"], r["baseline"])
            if r.get("compiled"):
                entry["compiled_ratios"] = ratios(r["nasl"], r["compiled"])
            results["rows"].append(entry)
    if "check" in rows:
        nas = os.path.join(tmp, "large.nas")
        sh([exe, "gen-check", "10000", nas])
        times = []
        for _ in range(a.repeats):
            t = time.perf_counter()
            sh([nasl_bin, "check", nas])
            times.append(time.perf_counter() - t)
        with open(nas) as f:
            lines = sum(1 for _ in f)
        results["check"] = {"seconds": statistics.median(times), "bytes": os.path.getsize(nas),
                            "lines": lines, "runs": times}
    results["load_after"] = os.getloadavg()
    with open(os.path.join(ROOT, "bench", "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(table(results))


def table(res):
    malloc = "; PyTorch with nasl's malloc settings" if res.get("pytorch_malloc_like_nasl") else ""
    load = ""
    if "load_before" in res:
        load = (f"; load average (1/5/15 min) {'/'.join(f'{x:.1f}' for x in res['load_before'])} before, "
                f"{'/'.join(f'{x:.1f}' for x in res['load_after'])} after")
    rows = res["rows"]
    has_c = any("compiled" in r for r in rows)
    has_b = any("baseline" in r for r in rows)
    out = [f"threads: {res['threads']}, {res['repeats']} repeats of fresh-process runs{malloc}{load}; "
           "throughputs are medians; ratios are medians of per-repeat ratios [lowest-highest] (the runs "
           "of one repeat are adjacent in time)\n"]
    head = "| row | nasl | PyTorch | nasl/PyTorch [spread] |"
    if has_c:
        head += " torch.compile (compile s) | nasl/compiled [spread] |"
    if has_b:
        head += " nasl/baseline [spread] |"
    head += " params nasl / PyTorch | peak MB nasl / PyTorch |"
    out += [head, "|" + "---|" * (head.count("|") - 1)]
    by_row = {}
    for r in rows:
        n, t = r["nasl"], r["pytorch"]
        by_row.setdefault(r["row"], r)
        unit = "cand/s" if r["row"] == "eval" else "steps/s"
        line = (f"| {r['label']} | {n['steps_per_s']:.2f} {unit} | {t['steps_per_s']:.2f} {unit} | "
                f"**{spread(r['ratios'])}** |")
        if has_c:
            c = r.get("compiled")
            line += (f" {c['steps_per_s']:.2f} {unit} ({c['warmup_s']:.0f} s) | {spread(r['compiled_ratios'])} |"
                     if c else " n/a | n/a |")
        if has_b:
            line += f" {spread(r['baseline_ratios'])} |" if r.get("baseline_ratios") else " n/a |"
        line += (f" {round(n['params']):,} / {round(t['params']):,} | {n['peak_rss_mb']:.1f} / {t['peak_rss_mb']:.1f} |")
        out.append(line)
    if "check" in res:
        c = res["check"]
        out.append(f"| 6. `nasl check`, {c['lines']:,} lines ({c['bytes'] / 1e6:.2f} MB) | {c['seconds']:.3f} s |"
                   + " n/a |" * (head.count("|") - 3))
    notes = []
    if "path" in by_row and "standalone" in by_row:
        for impl in ("nasl", "pytorch", "baseline", "compiled"):
            if not by_row["path"]["runs"].get(impl):
                continue
            t = ratios(by_row["standalone"]["runs"][impl], by_row["path"]["runs"][impl])
            m = ratios(by_row["path"]["runs"][impl], by_row["standalone"]["runs"][impl], "peak_rss_mb")
            notes.append(f"- row 5, {impl}: supernet path step time / standalone = "
                         f"**{spread(t)}** (target <= 1.05); peak memory path / "
                         f"standalone = **{spread(m)}** (target <= 1.2)")
    if "darts" in by_row and "gdas" in by_row:
        for impl in ("nasl", "pytorch", "baseline"):
            if impl not in by_row["darts"] or impl not in by_row["gdas"]:
                continue
            d, g = by_row["darts"][impl], by_row["gdas"][impl]
            notes.append(f"- row 3, {impl}: peak memory per step DARTS {d['peak_rss_mb']:.1f} MB, "
                         f"GDAS {g['peak_rss_mb']:.1f} MB (GDAS/DARTS = {g['peak_rss_mb'] / max(d['peak_rss_mb'], 1e-9):.2f})")
    return "\n".join(out + [""] + notes)


if __name__ == "__main__":
    main()
