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
    a = p.parse_args()
    if a.quick:
        a.repeats, a.steps = 1, a.steps or 3
    rows = a.rows.split(",")
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    exe, nasl_bin = build()
    tmp = tempfile.mkdtemp(prefix="nasl-bench-")
    nets = {}
    for space in ("chain", "darts"):
        nets[space] = os.path.join(tmp, f"{space}.json")
        with open(nets[space], "w") as f:
            f.write(sh([exe, "dump", space], env=env))
    common = ["--threads", str(a.threads)] + (["--steps", str(a.steps)] if a.steps else [])
    if a.quick:
        common += ["--warmup", "1"]
    results = {"threads": a.threads, "repeats": a.repeats, "rows": []}
    for label, row, space, extra in WORKLOADS:
        if row not in rows:
            continue
        runs = {"nasl": [], "pytorch": []}
        for i in range(a.repeats):
            order = ["nasl", "pytorch"] if i % 2 == 0 else ["pytorch", "nasl"]
            for impl in order:
                if impl == "nasl":
                    cmd = [exe, row] + extra + common
                else:
                    cmd = [sys.executable, os.path.join(ROOT, "bench", "reference.py"), row,
                           "--net", nets[space]] + extra + common
                runs[impl].append(run_json(cmd, env))
            sys.stderr.write(f"{label}: run {i + 1}/{a.repeats} done\n")
        results["rows"].append({
            "label": label, "row": row,
            "nasl": {k: med(runs["nasl"], k) for k in ("steps_per_s", "peak_rss_mb", "params")},
            "pytorch": {k: med(runs["pytorch"], k) for k in ("steps_per_s", "peak_rss_mb", "params")},
            "runs": runs,
        })
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
    with open(os.path.join(ROOT, "bench", "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(table(results))


def table(res):
    out = [f"threads: {res['threads']}, medians of {res['repeats']} fresh-process runs each\n",
           "| row | nasl | PyTorch | nasl/PyTorch | params nasl / PyTorch | peak MB nasl / PyTorch |",
           "|---|---|---|---|---|---|"]
    by_row = {}
    for r in res["rows"]:
        n, t = r["nasl"], r["pytorch"]
        by_row.setdefault(r["row"], r)
        unit = "cand/s" if r["row"] == "eval" else "steps/s"
        out.append(f"| {r['label']} | {n['steps_per_s']:.2f} {unit} | {t['steps_per_s']:.2f} {unit} | "
                   f"**{n['steps_per_s'] / t['steps_per_s']:.2f}** | {n['params']:,} / {t['params']:,} | "
                   f"{n['peak_rss_mb']:.1f} / {t['peak_rss_mb']:.1f} |")
    if "check" in res:
        c = res["check"]
        out.append(f"| 6. `nasl check`, {c['lines']:,} lines ({c['bytes'] / 1e6:.2f} MB) | {c['seconds']:.3f} s | n/a | n/a | | |")
    notes = []
    if "path" in by_row and "standalone" in by_row:
        for impl in ("nasl", "pytorch"):
            p, s = by_row["path"][impl], by_row["standalone"][impl]
            notes.append(f"- row 5, {impl}: supernet path step time / standalone = "
                         f"**{s['steps_per_s'] / p['steps_per_s']:.3f}** (target <= 1.05); peak memory path / "
                         f"standalone = **{p['peak_rss_mb'] / max(s['peak_rss_mb'], 1e-9):.2f}** (target <= 1.2)")
    if "darts" in by_row and "gdas" in by_row:
        for impl in ("nasl", "pytorch"):
            d, g = by_row["darts"][impl], by_row["gdas"][impl]
            notes.append(f"- row 3, {impl}: peak memory per step DARTS {d['peak_rss_mb']:.1f} MB, "
                         f"GDAS {g['peak_rss_mb']:.1f} MB (GDAS/DARTS = {g['peak_rss_mb'] / max(d['peak_rss_mb'], 1e-9):.2f})")
    return "\n".join(out + [""] + notes)


if __name__ == "__main__":
    main()
