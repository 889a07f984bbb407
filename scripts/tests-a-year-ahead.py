#!/usr/bin/env python3
"""Runs every Rust test again with the system date a year ahead, under Debian's faketime.

A test whose outcome depends on today's date (a fixture timestamp compared with the wall
clock, a "tomorrow" frozen into a file) fails here. Each test runs in a process of its own, as
cargo-nextest runs them (tests that capture logs install a subscriber per process), from its
package's folder; two at a time. Only the test processes see the moved clock: cargo and moto's
server keep the real one.

    python3 scripts/tests-a-year-ahead.py [--offset '+365 days']
"""
import argparse
import concurrent.futures
import json
import os
import subprocess
import sys


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
    parser.add_argument("--offset", default="+365 days")
    args = parser.parse_args()
    env = dict(os.environ, FAKETIME_DONT_FAKE_MONOTONIC="1")
    print("clock:", subprocess.run(["faketime", args.offset, "date", "-u"], capture_output=True,
                                   text=True, check=True).stdout.strip(), flush=True)
    runs = [(folder, binary, name) for folder, binary in test_binaries() for name in tests_of(binary)]

    def run(job):
        folder, binary, name = job
        done = subprocess.run(["faketime", args.offset, binary, "--exact", name, "-q"], cwd=folder,
                              env=env, capture_output=True, text=True, timeout=600)
        return name, done.returncode, done.stdout + done.stderr

    failed = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for name, code, output in pool.map(run, runs):
            if code != 0:
                failed.append(name)
                print(f"FAILED a year ahead: {name}\n{output[-3000:]}", flush=True)
    print(f"faketime: {len(runs) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed or not runs else 0


if __name__ == "__main__":
    sys.exit(main())
