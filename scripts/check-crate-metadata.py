#!/usr/bin/env python3
"""Checks that every publishable crate of the workspace has what crates.io and docs.rs need.

Reads `cargo metadata --no-deps` JSON (from a file argument, or runs cargo), and fails with a
list of problems when a package that may be published (publish is not false) lacks a
description, license, repository, readme (the file must exist), keywords (1 to 5),
categories, rust-version, or has a normal/build dependency on a path without a version.
`--self-test` shows the check fails on a deliberately broken copy of the metadata.
"""
import copy
import json
import os
import subprocess
import sys

FIELDS = ["description", "license", "repository", "readme", "rust_version"]


def problems(meta):
    out = []
    for pkg in meta["packages"]:
        if pkg.get("publish") == []:  # publish = false
            continue
        name = pkg["name"]
        for f in FIELDS:
            if not pkg.get(f):
                out.append(f"{name}: no {f.replace('_', '-')}")
        readme = pkg.get("readme")
        if readme:
            path = os.path.join(os.path.dirname(pkg["manifest_path"]), readme)
            if not os.path.isfile(path):
                out.append(f"{name}: readme {readme} does not exist")
        kw = pkg.get("keywords") or []
        if not 1 <= len(kw) <= 5:
            out.append(f"{name}: {len(kw)} keywords (crates.io takes 1 to 5)")
        if not pkg.get("categories"):
            out.append(f"{name}: no categories")
        for dep in pkg["dependencies"]:
            if dep.get("kind") == "dev":
                continue
            if dep.get("path") and dep.get("req") in (None, "*"):
                out.append(f"{name}: path dependency {dep['name']} has no version")
    return out


def main():
    args = sys.argv[1:]
    if args and args[0] != "--self-test":
        with open(args[0]) as f:
            meta = json.load(f)
    else:
        raw = subprocess.run(
            ["cargo", "metadata", "--no-deps", "--format-version", "1"],
            check=True, capture_output=True, text=True).stdout
        meta = json.loads(raw)
    if args and args[0] == "--self-test":
        found = problems(meta)
        if found:
            print("\n".join(found))
            sys.exit(1)
        broken = copy.deepcopy(meta)
        victim = next(p for p in broken["packages"] if p.get("publish") != [])
        victim["keywords"] = []
        victim["readme"] = "NO-SUCH-README.md"
        for dep in victim["dependencies"]:
            if dep.get("path"):
                dep["req"] = "*"
        caught = problems(broken)
        want = 3 if any(d.get("path") for d in victim["dependencies"]) else 2
        if len(caught) < want:
            print(f"self-test: the check missed a broken {victim['name']}: {caught}")
            sys.exit(1)
        print(f"metadata: the check catches a broken {victim['name']} ({len(caught)} problems)")
    found = problems(meta)
    if found:
        print("crate metadata problems:\n  " + "\n  ".join(found))
        sys.exit(1)
    n = sum(1 for p in meta["packages"] if p.get("publish") != [])
    print(f"metadata: {n} publishable crates complete")


if __name__ == "__main__":
    main()
