"""PNG plots from bench/results.json: scan time against image size (harborguard and syft),
and API latency percentiles (GET /api/registries against GET /healthz). Needs matplotlib."""
import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", default="bench/results.json")
    ap.add_argument("--out", default="docs/bench")
    args = ap.parse_args()
    data = json.load(open(args.results))
    series = data.get("series", {})
    os.makedirs(args.out, exist_ok=True)
    note = lambda when: f"{when}, {data.get('cores', '?')} cores, release build"

    points = series.get("scan_vs_size")
    if points:
        fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
        xs = [p["mb"] for p in points]
        ax.plot(xs, [p["harborguard_s"] for p in points], "o-", label="harborguard scan (pull + inventory)")
        if all("syft_s" in p for p in points):
            ax.plot(xs, [p["syft_s"] for p in points], "s--", label="syft registry: -o json")
        ax.set_xlabel("image size, compressed (MB)")
        ax.set_ylabel("wall time (s)")
        ax.set_title("Inventory time against image size")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        # A series measured in a later run than the rest carries its own date.
        when = series.get("scan_vs_size_date", data.get("date", ""))
        fig.text(0.99, 0.01, note(when), ha="right", va="bottom", fontsize=7, color="gray")
        fig.savefig(os.path.join(args.out, "scan-vs-size.png"))
        print("wrote", os.path.join(args.out, "scan-vs-size.png"))

    latency = series.get("api_latency_ms")
    if latency:
        fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
        pcts = ["50", "75", "90", "99"]
        width = 0.38
        for k, (name, values) in enumerate(latency.items()):
            xs = [i + (k - 0.5) * width for i in range(len(pcts))]
            bars = ax.bar(xs, [values[p] for p in pcts], width, label=name)
            ax.bar_label(bars, fmt="%.1f", fontsize=7)
        ax.set_xticks(range(len(pcts)), [f"p{p}" for p in pcts])
        ax.set_ylabel("latency (ms)")
        ax.set_title("API latency percentiles, 64 connections (wrk)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend()
        ax.set_ylim(0, max(v for values in latency.values() for v in values.values()) * 1.15)
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        fig.text(0.99, 0.01, note(data.get("date", "")), ha="right", va="bottom", fontsize=7, color="gray")
        fig.savefig(os.path.join(args.out, "api-latency.png"))
        print("wrote", os.path.join(args.out, "api-latency.png"))


if __name__ == "__main__":
    main()
