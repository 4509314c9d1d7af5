#!/usr/bin/env python3
"""Compares two benchmark runs figure by figure and records the comparison in results.json.

    python3 bench/compare.py --before OLD.json --after NEW.json --label redesign \
        [--before-commit REV] [--after-commit REV] [--into bench/results.json]

For each figure both runs have, it compares the ratio to the baseline measured in the same run
(machine noise moves both sides of a ratio), or the raw value for figures without a baseline,
and flags a change beyond --tolerance (default 10%). The result is printed and stored under
"comparisons" → LABEL in the --into file (bench/run.py keeps that key when it rewrites the file).
"""
import argparse
import json


def number(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--label", required=True)
    ap.add_argument("--before-commit", default="")
    ap.add_argument("--after-commit", default="")
    ap.add_argument("--tolerance", type=float, default=0.10)
    ap.add_argument("--into", default="bench/results.json")
    args = ap.parse_args()
    before = json.load(open(args.before))
    after = json.load(open(args.after))
    old = {r["figure"]: r for r in before["results"]}
    rows = []
    for r in after["results"]:
        b = old.get(r["figure"])
        if b is None:
            continue
        kind = "ratio" if number(r.get("ratio")) is not None and number(b.get("ratio")) is not None else "value"
        bv, av = (b.get("ratio"), r.get("ratio")) if kind == "ratio" else (number(b.get("harborguard")), number(r.get("harborguard")))
        change = None if bv in (None, 0) or av is None else round(av / bv - 1, 3)
        rows.append({"figure": r["figure"], "compared": kind, "before": bv, "after": av, "change": change,
                     "within_tolerance": None if change is None else abs(change) <= args.tolerance})
    entry = {"before": {"date": before.get("date"), "commit": args.before_commit},
             "after": {"date": after.get("date"), "commit": args.after_commit},
             "tolerance": args.tolerance, "figures": rows}
    into = json.load(open(args.into))
    into.setdefault("comparisons", {})[args.label] = entry
    with open(args.into, "w") as f:
        json.dump(into, f, indent=2)
        f.write("\n")
    w = max(len(r["figure"]) for r in rows) if rows else 10
    print(f"{'figure'.ljust(w)}  {'compared':>8}  {'before':>9}  {'after':>9}  change")
    for r in rows:
        ch = "n/a" if r["change"] is None else f"{r['change']:+.1%}" + ("" if r["within_tolerance"] else "  (beyond tolerance)")
        print(f"{r['figure'].ljust(w)}  {r['compared']:>8}  {str(r['before']):>9}  {str(r['after']):>9}  {ch}")
    print(f"wrote comparisons.{args.label} into {args.into}")


if __name__ == "__main__":
    main()
