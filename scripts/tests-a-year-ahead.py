#!/usr/bin/env python3
"""Runs every Rust test again with the system date a year ahead, under Debian's libfaketime.

A test whose outcome depends on today's date (a fixture timestamp compared with the wall
clock, a "tomorrow" frozen into a file) fails here. Each test runs in a process of its own, as
cargo-nextest runs them (tests that capture logs install a subscriber per process), from its
package's folder; two at a time. Only the test processes (and what they start) see the moved
clock: cargo and moto's server keep the real one.

libfaketime is preloaded directly rather than through the `faketime` wrapper: the wrapper keeps
a semaphore named after its process id in /dev/shm, and one left behind by a killed run makes a
later wrapper with the same id fail (`sem_open: File exists`) before the test even starts.

    python3 scripts/tests-a-year-ahead.py [--offset +365d]
"""
import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
from datetime import datetime, timezone

# `$LIB` is expanded by the dynamic loader (x86_64-linux-gnu on Debian), as the wrapper does.
LIBFAKETIME = "/usr/$LIB/faketime/libfaketime.so.1"


def test_binaries():
    """(package folder, test executable) of the workspace, built as `cargo test` builds them."""
    out = subprocess.run(
        ["cargo", "test", "--workspace", "--locked", "--no-run", "--message-format", "json"],
        check=True, capture_output=True, text=True,
    ).stdout
    for line in out.splitlines():
        m = json.loads(line)
        if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
            yield os.path.dirname(m["manifest_path"]), m["executable"]


def tests_of(binary):
    listed = subprocess.run([binary, "--list", "--format", "terse"], check=True,
                            capture_output=True, text=True).stdout
    return [l[: -len(": test")] for l in listed.splitlines() if l.endswith(": test")]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--offset", default="+365d", help="libfaketime's FAKETIME, e.g. +365d")
    args = parser.parse_args()
    env = dict(os.environ, LD_PRELOAD=LIBFAKETIME, FAKETIME=args.offset,
               FAKETIME_DONT_FAKE_MONOTONIC="1")
    moved = subprocess.run(["date", "-u", "+%s"], env=env, capture_output=True, text=True,
                           check=True)
    ahead = int(moved.stdout) - int(datetime.now(timezone.utc).timestamp())
    # A library that failed to preload would leave the clock as it is and every test "passing".
    if moved.stderr or ahead < 300 * 86400:
        print(f"libfaketime did not move the clock ({ahead} s ahead): {moved.stderr.strip()}")
        return 1
    print("clock:", datetime.fromtimestamp(int(moved.stdout), timezone.utc).isoformat(), flush=True)
    runs = [(folder, binary, name) for folder, binary in test_binaries() for name in tests_of(binary)]

    def run(job):
        folder, binary, name = job
        done = subprocess.run([binary, "--exact", name, "-q"], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=600)
        return name, done.returncode, done.stdout + done.stderr

    failed = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for name, code, output in pool.map(run, runs):
            if code != 0:
                failed.append(name)
                print(f"FAILED a year ahead: {name}\n{output}", flush=True)
    print(f"faketime: {len(runs) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed or not runs else 0


if __name__ == "__main__":
    sys.exit(main())
