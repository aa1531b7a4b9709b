"""Per-query timing report of TPC-H runs: a Markdown table and a PNG bar chart (matplotlib).

The first run is the baseline (typically plaintext); every other run gets a ratio column against it, per
query and in total, which is the only form performance numbers are stated in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def run_label(timings: Mapping[str, Any], fallback: str) -> str:
    """A short label: the run's own label, else crypto mode and format."""
    if timings.get("label"):
        return str(timings["label"])
    mode, fmt = timings.get("inputCryptoMode"), timings.get("format")
    return f"{mode} {fmt}".strip() if mode or fmt else fallback


def _seconds(timings: Mapping[str, Any]) -> dict[int, float]:
    return {int(q): float(v["seconds"]) for q, v in dict(timings.get("queries", {})).items()}


def markdown(runs: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """Table: query | seconds per run | ratio of each run to the first."""
    if not runs:
        return ""
    times = [_seconds(t) for _, t in runs]
    queries = sorted(set().union(*times))
    base = times[0]
    header = ["query"] + [f"{label} (s)" for label, _ in runs] + [f"{label} / {runs[0][0]}" for label, _ in runs[1:]]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for q in queries:
        cells = [f"Q{q:02d}"] + [f"{t[q]:.2f}" if q in t else "-" for t in times]
        cells += [f"{t[q] / base[q]:.2f}" if q in t and base.get(q) else "-" for t in times[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    common = [q for q in queries if all(q in t for t in times)]
    totals = [sum(t[q] for q in common) for t in times]
    cells = ["**total**"] + [f"**{v:.2f}**" for v in totals]
    cells += [f"**{v / totals[0]:.3f}**" if totals[0] else "-" for v in totals[1:]]
    lines.append("| " + " | ".join(cells) + " |")
    facts = [f"- {label}: " + ", ".join(f"{k}={v}" for k, v in _facts(t).items()) for label, t in runs]
    return "\n".join(["# TPC-H timings", "", *lines, "", *facts, ""])


def _facts(timings: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("input", "format", "inputCryptoMode", "scaleFactor", "master", "sparkVersion")
    return {k: timings[k] for k in keys if timings.get(k) is not None}


def bar_chart(runs: Sequence[tuple[str, Mapping[str, Any]]], path: str) -> None:
    """Grouped bars of seconds per query, one colour per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = [_seconds(t) for _, t in runs]
    queries = sorted(set().union(*times)) if times else []
    width = 0.8 / max(1, len(runs))
    fig, ax = plt.subplots(figsize=(max(8, len(queries) * 0.6), 4.5))
    for i, ((label, _), t) in enumerate(zip(runs, times, strict=True)):
        xs = [q + (i - (len(runs) - 1) / 2) * width for q in queries]
        ax.bar(xs, [t.get(q, 0.0) for q in queries], width=width, label=f"{label} ({sum(t.values()):.1f} s)")
    ax.set_xticks(queries)
    ax.set_xticklabels([f"Q{q}" for q in queries], fontsize=8)
    ax.set_ylabel("wall time (s)")
    ax.set_title("TPC-H per-query wall time")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
