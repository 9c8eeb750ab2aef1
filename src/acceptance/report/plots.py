"""PNG plots for the report (matplotlib, Agg): black and grey, told apart by line style and
marker, so they read in grey-scale print. Each figure carries its source in a footnote."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..mlperf.analysis import TARGET_BBOX, TARGET_SEGM, RunSummary  # noqa: E402

_GREYS = ["0.0", "0.35", "0.55", "0.7", "0.8"]


def _png(fig, source: str) -> bytes:
    fig.text(0.01, 0.01, f"source: {source}", fontsize=7, color="0.3")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def convergence(runs: list[tuple[str, RunSummary]], source: str) -> bytes:
    """BBOX and SEGM mAP per epoch for each run, with the two target lines."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for index, (label, run) in enumerate(runs):
        grey = _GREYS[index % len(_GREYS)]
        epochs = [p.epoch for p in run.eval_curve]
        ax.plot(epochs, [p.bbox for p in run.eval_curve], "-o", color=grey, markersize=3,
                label=f"{label} BBOX" if len(runs) > 1 else "BBOX")  # fmt: skip
        ax.plot(epochs, [p.segm for p in run.eval_curve], "--s", color=grey, markersize=3,
                label=f"{label} SEGM" if len(runs) > 1 else "SEGM")  # fmt: skip
    ax.axhline(TARGET_BBOX, color="0", linestyle=":", linewidth=1)
    ax.axhline(TARGET_SEGM, color="0.4", linestyle="-.", linewidth=1)
    ax.text(ax.get_xlim()[0], TARGET_BBOX, f" BBOX target {TARGET_BBOX}", va="bottom", fontsize=7)
    ax.text(ax.get_xlim()[0], TARGET_SEGM, f" SEGM target {TARGET_SEGM}", va="top", fontsize=7)
    ax.set_xlabel("epoch")
    ax.set_ylabel("COCO mAP@[.5:.95]")
    ax.set_title("Convergence")
    ax.legend(fontsize=6, ncol=2 if len(runs) > 2 else 1)
    ax.grid(True, color="0.9")
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
