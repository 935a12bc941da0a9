#!/usr/bin/env python3
"""Write a Markdown report of a fuzzing run from libFuzzer's logs (fuzz/logs/<target>.log).

usage: report.py REPORT target...

Per target: wall seconds, executions, exec/s, coverage (cov: edges, ft: features) and corpus
size from libFuzzer's last status line and -print_final_stats, peak RSS, and the crashes
(crash/oom/timeout/leak artifacts written during the run, and libFuzzer's verdict).
"""
import datetime
import os
import platform
import re
import subprocess
import sys

STATUS = re.compile(r"^#(\d+)\s+(\w+)\s+cov: (\d+) ft: (\d+) corp: (\d+)/(\S+)")
FAILURE = re.compile(r"==\d+== ERROR: libFuzzer: (.+)|SUMMARY: libFuzzer: (.+)|thread '.*'.*? panicked at (\S+?):?$", re.M)


def parse(target):
    text = open(os.path.join("logs", f"{target}.log"), errors="replace").read()
    stats = dict(re.findall(r"^stat::(\w+):\s+(\d+)", text, re.M))
    status = [m for m in map(STATUS.match, text.splitlines()) if m]
    last = status[-1] if status else None
    trailer = re.search(r"exit=(\d+) wall=(\d+) corpus_files=(\d+) new_artifacts=(\d+)", text)
    failures = []
    for m in FAILURE.finditer(text):
        what = next(g for g in m.groups() if g).strip()
        if m.group(3):
            what = f"panic at {what}"
        if what not in failures:
            failures.append(what)
    exit_code = int(trailer.group(1)) if trailer else -1
    return {
        "target": target,
        "seconds": int(trailer.group(2)) if trailer else 0,
        "execs": int(stats.get("number_of_executed_units", last.group(1) if last else 0)),
        "exec_s": int(stats.get("average_exec_per_sec", 0)),
        "cov": int(last.group(3)) if last else 0,
        "ft": int(last.group(4)) if last else 0,
        "corpus": f"{last.group(5)} ({last.group(6)})" if last else "?",
        "corpus_files": int(trailer.group(3)) if trailer else 0,
        "rss": int(stats.get("peak_rss_mb", 0)),
        "crashes": int(trailer.group(4)) if trailer else 0,
        "exit": exit_code,
        "failures": failures,
        "ok": exit_code == 0 and not failures,
    }


def main():
    report, targets = sys.argv[1], sys.argv[2:]
    rows = [parse(t) for t in targets]
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    fuzz = subprocess.run(["cargo", "fuzz", "--version"], capture_output=True, text=True).stdout.strip()
    env = os.environ.get
    limits = f"-malloc_limit_mb={env('FUZZ_MEMORY_MB', '256')} -rss_limit_mb={env('FUZZ_RSS_MB', '1024')} -timeout={env('FUZZ_TIMEOUT', '10')}, ASAN_OPTIONS={env('ASAN_OPTIONS', '')}"
    out = [
        "# Fuzzing report",
        "",
        f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.node() or 'this machine'} "
        f"({os.cpu_count()} CPUs, shared), {rustc}, {fuzz}, AddressSanitizer, debug assertions on, one job per target, "
        f"targets one after another. Limits: `{limits}`.",
        "Written by `fuzz/report.py` from libFuzzer's output (`fuzz/logs/<target>.log`).",
        "",
        "| target | seconds | execs | exec/s | cov (edges) | ft (features) | corpus (units, size) | peak RSS MB | crashes | result |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    for r in rows:
        result = "ok" if r["ok"] else "FAILED: " + (", ".join(r["failures"]) or f"exit {r['exit']}")
        out.append(
            f"| `{r['target']}` | {r['seconds']} | {r['execs']} | {r['exec_s']} | {r['cov']} | {r['ft']} | {r['corpus']} | {r['rss']} | {r['crashes']} | {result} |"
        )
    open(report, "w").write("\n".join(out) + "\n")
    print("\n".join(out))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
