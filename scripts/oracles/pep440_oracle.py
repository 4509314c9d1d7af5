#!/usr/bin/env python3
"""PEP 440 oracle for the Swift comparator tests.

Reads lines from stdin, tab-separated:
  cmp<TAB>A<TAB>B  -> prints -1, 0 or 1 (packaging.version.Version order), or
                      "invalid" when either side does not parse
  valid<TAB>A      -> prints 1 if Version(A) parses, else 0
Needs the `packaging` distribution (any version >= 22).
"""
import sys
from packaging.version import Version, InvalidVersion

out = []
for line in sys.stdin.read().split("\n"):
    if not line:
        continue
    parts = line.split("\t")
    if parts[0] == "cmp":
        try:
            a, b = Version(parts[1]), Version(parts[2])
        except InvalidVersion:
            out.append("invalid")
            continue
        out.append("-1" if a < b else ("1" if a > b else "0"))
    elif parts[0] == "valid":
        try:
            Version(parts[1])
            out.append("1")
        except InvalidVersion:
            out.append("0")
    else:
        out.append("?")
sys.stdout.write("\n".join(out) + "\n")
