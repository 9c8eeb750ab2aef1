"""PNG plots for the report (matplotlib, Agg). Runs are told apart by colour, marker and line
style together, so they still read in grey-scale print, and the legend names each. Each figure
carries its source in a footnote."""

from __future__ import annotations

import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..mlperf.analysis import TARGET_BBOX, TARGET_SEGM  # noqa: E402

_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22"]  # fmt: skip
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
_STYLES = ["-", "--", "-.", ":"]


@dataclass(frozen=True)
class Curve:
    """One run's evaluations: minutes since its run_start, BBOX and SEGM mAP."""

    label: str
    minutes: tuple[float, ...]
    bbox: tuple[float | None, ...]
    segm: tuple[float | None, ...]


def curve(label: str, points: list[dict]) -> Curve:
    """A curve from ``eval_curve`` points (``minutes``, ``bbox``, ``segm``); points without minutes are left out."""
    kept = [p for p in points if p.get("minutes") is not None]
    return Curve(label, tuple(p["minutes"] for p in kept), tuple(p.get("bbox") for p in kept),
                 tuple(p.get("segm") for p in kept))  # fmt: skip


def _png(fig, source: str) -> bytes:
    fig.text(0.01, 0.01, f"source: {source}", fontsize=7, color="0.3")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def style(index: int) -> dict:
    """The look of the ``index``-th run: no two of the first 40 share colour, marker and line style."""
    return {"color": _COLOURS[index % len(_COLOURS)], "marker": _MARKERS[index % len(_MARKERS)],
            "linestyle": _STYLES[(index // len(_COLOURS)) % len(_STYLES)]}  # fmt: skip


def convergence(curves: list[Curve], source: str) -> bytes:
    """BBOX and SEGM mAP against minutes since run_start, one panel each, with the targets."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharex=True)
    for ax, name, target, pick in ((axes[0], "BBOX", TARGET_BBOX, "bbox"), (axes[1], "SEGM", TARGET_SEGM, "segm")):
        for index, run in enumerate(curves):
            values = getattr(run, pick)
            ax.plot(run.minutes, values, markersize=4, linewidth=1.2, label=run.label, **style(index))
        ax.axhline(target, color="0", linestyle=":", linewidth=1)
        ax.text(0.01, target, f" target {target}", transform=ax.get_yaxis_transform(), va="bottom", fontsize=7)
        ax.set_xlabel("minutes since run_start")
        ax.set_ylabel(f"{name} mAP@[.5:.95]")
        ax.set_title(f"{name} against time")
        ax.grid(True, color="0.9")
    axes[1].legend(fontsize=6, loc="lower right", ncol=2 if len(curves) > 5 else 1)
    return _png(fig, source)


def scaling(points: dict[int, float], source: str) -> bytes:
    """Training img/s against node count, with ideal linear scaling from the smallest count."""
    nodes = sorted(points)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(nodes, [points[n] for n in nodes], "-o", color="0", label="measured")
    base = nodes[0]
    ax.plot(nodes, [points[base] * n / base for n in nodes], "--", color="0.5", label="ideal scaling")
    ax.set_xlabel("nodes")
    ax.set_ylabel("training img/s")
    ax.set_xticks(nodes)
    ax.set_title("Throughput against node count")
    ax.legend(fontsize=7)
    ax.grid(True, color="0.9")
    return _png(fig, source)
