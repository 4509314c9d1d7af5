#!/usr/bin/env python3
"""CVSS v4.0 oracle (development aid, not run by the tests).

Reads CVSS:4.0 vectors on stdin, prints Red Hat's `cvss` library base score per line
(`pip install cvss`). Used to pick the expected values in VulnDBTests.cvss4 and to
cross-check CVSSv4.swift on random vectors.
"""
import sys
from cvss import CVSS4

for line in sys.stdin.read().split("\n"):
    if line:
        print(CVSS4(line).base_score)
