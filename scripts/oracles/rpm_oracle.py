#!/usr/bin/python3
"""rpm oracle: reads `E:V-R<TAB>E:V-R` lines, prints rpm.labelCompare's -1/0/1.

Needs Debian's python3-rpm (bound to /usr/bin/python3).
"""
import sys
import rpm


def split(label):
    epoch, rest = label.split(":", 1)
    version, release = rest.rsplit("-", 1)
    return (epoch, version, release)


out = []
for line in sys.stdin.read().split("\n"):
    if not line:
        continue
    a, b = line.split("\t")
    out.append(str(rpm.labelCompare(split(a), split(b))))
sys.stdout.write("\n".join(out) + "\n")
