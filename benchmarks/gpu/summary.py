"""The GPU check's summary.md: one short page from whatever part files OUTDIR holds (rewritten after each part).

python3 benchmarks/gpu/summary.py OUTDIR
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import results  # noqa: E402

PARTS = ("prepare", "env", "nccl", "train", "matrix", "cap15", "cap38", "speed", "eval")


def number(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def device_section(env: dict) -> list[str]:
    if not env:
        return []
    return [
        "## Device and software",
        f"- {env.get('device')} ({number(env.get('memory_gib'))} GiB, {env.get('capability', '-')}, in this torch's "
        f"build: {env.get('in_build', '-')}); driver and limits: {env.get('nvidia_smi', '-')}",
        f"- Python {env.get('python')}, torch {env.get('torch')} (CUDA {env.get('cuda')}, cuDNN {env.get('cudnn')}, "
        f"NCCL {env.get('nccl', '-')}), torchvision {env.get('torchvision')}; {env.get('packages')}",
        f"- float16 matrix product (8192^3, measured): {number(env.get('fp16_matmul_tflops'))} TFLOP/s; "
        f"allocator: {env.get('alloc_conf') or 'default'}; commit {env.get('commit')}",
    ]


def nccl_section(nccl: dict) -> list[str]:
    if not nccl.get("checks"):
        return []
    lines = ["## One-rank process group", f"- backend {nccl.get('backend')}: {nccl.get('backends')}"]
    for name, check in nccl["checks"].items():
        lines.append(f"- {name}: {'ok' if check['ok'] else check.get('error')}")
    return lines


def train_section(train: dict) -> list[str]:
    if "exit_code" not in train:
        return []
    rates = ", ".join(f"{w['iteration']}: {w['img_s']}" for w in train.get("windows", []))
    return [
        "## Trainer, end to end",
        f"- `{train.get('command')}`",
        f"- run_stop: {train.get('run_stop')} ({train.get('run_status')}, {train.get('stop_kind')}: "
        f"{train.get('reason')}); exit code {train.get('exit_code')}",
        f"- img/s by iteration: {rates or '-'}; steady (after the first window): {number(train.get('steady_img_s'))}",
        f"- init {number(train.get('init_s'))} s, run_start to run_stop {number(train.get('run_s'))} s; evaluation "
        f"inference {train.get('inference')}; scores {train.get('evaluations')}",
    ]


def memory_section(title: str, part: dict) -> list[str]:
    rows = part.get("rows", [])
    if not rows and "cap" not in part:
        return []
    lines = [f"## {title}"]
    if "cap" in part:
        cap = part["cap"]
        lines.append(
            f"- cap {cap.get('cap_gib')} GiB, enforced: {cap.get('enforced')} "
            f"(allocated until refused: {number(cap.get('allocated_until_refused_gib'), 2)} GiB)"
        )
    lines += [
        "",
        "| shape (padded) | objects | batch | layout | cudnn.benchmark | fits | img/s | peak alloc GiB | "
        "peak reserved GiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        fits = "yes" if r.get("fits") else f"OOM at step {r.get('oom_at_step')}"
        if r.get("fits") and not r.get("loss_finite", True):
            fits += " (non-finite loss)"
        lines.append(
            f"| {r['shape']} ({r['padded']}) | {r['objects']} | {r['batch']} | {r['layout']} | "
            f"{r['cudnn_benchmark']} | {fits} | {number(r.get('img_s'))} | "
            f"{number(r.get('peak_allocated_gib'), 2)} | {number(r.get('peak_reserved_gib'), 2)} |"
        )
    return lines


def speed_section(speed: dict) -> list[str]:
    if "flops" not in speed:
        return []
    flops = speed["flops"]
    lines = [
        "## Speed at " + f"{speed.get('shape')}, {speed.get('objects')} objects, batch {speed.get('batch')}",
        f"- FLOPs per training image (FlopCounterMode: matmul and convolution, forward and backward): ours "
        f"{flops['ours']['per_image'] / 1e9:.0f} G, stock {flops['stock']['per_image'] / 1e9:.0f} G",
    ]
    if "ours_vs_stock" in speed:
        vs = speed["ours_vs_stock"]
        lines.append(
            f"- img/s: ours {number(vs['ours']['img_s'])}, stock {number(vs['stock']['img_s'])} "
            f"(ours/stock {number(speed.get('ours_over_stock'), 2)}x)"
        )
    if "hot_loop" in speed:
        lines.append(
            "- hot loop img/s: " + ", ".join(f"{k} {number(v['img_s'])}" for k, v in speed["hot_loop"].items())
        )
    if "mfu" in speed:
        mfu = speed["mfu"]
        lines.append(
            f"- MFU: {number(mfu['achieved_tflops'])} TFLOP/s achieved, {number((mfu['mfu'] or 0) * 100)}% of "
            f"the datasheet's {mfu['peak_tflops']} (dense fp16), "
            f"{number((mfu['of_measured_matmul'] or 0) * 100)}% of the measured matmul rate"
        )
    return lines


def eval_section(part: dict) -> list[str]:
    if "first_pass" not in part:
        return []
    lines = ["## Evaluation (per image)"]
    for name in ("first_pass", "second_pass", "synchronized_pass"):
        if name in part:
            p = part[name]
            lines.append(
                f"- {name.replace('_', ' ')}: forward {number(p['forward_ms'])} ms, paste "
                f"{number(p['paste_ms'])} ms, encode {number(p['encode_ms'])} ms "
                f"({number(p['detections_per_image'])} detections per image, {p['images']} images)"
            )
    post = part.get("postprocess")
    if post:
        lines.append(
            f"- post-processing of {post['detections_per_image']} detections: before "
            f"{post['before_s_per_image'] * 1e3:.1f} ms, after {post['after_s_per_image'] * 1e3:.1f} ms "
            f"({post['speedup']:.2f}x; identical RLEs {post['identical_rle_share']:.1%})"
        )
    return lines


def render(outdir: Path) -> str:
    parts = {name: results.read(outdir, name) for name in PARTS}
    lines = ["# GPU check", "", "| part | status | seconds |", "|---|---|---|"]
    for name, part in parts.items():
        lines.append(f"| {name} | {part.get('status', 'not run')} | {number(part.get('seconds'), 0)} |")
    sections = [
        (device_section, parts["env"]),
        (nccl_section, parts["nccl"]),
        (train_section, parts["train"]),
        (lambda p: memory_section("Memory and speed (uncapped)", p), parts["matrix"]),
        (lambda p: memory_section("Under a V100-16GB's memory (cap)", p), parts["cap15"]),
        (lambda p: memory_section("Under an A100-40GB's memory (cap)", p), parts["cap38"]),
        (speed_section, parts["speed"]),
        (eval_section, parts["eval"]),
    ]
    for section, part in sections:
        try:
            text = section(part)
        except (KeyError, TypeError, ValueError) as err:  # a part cut short: its JSON file says the rest
            text = [f"(a section could not be written from {part.get('part')}.json: {type(err).__name__} {err})"]
        if text:
            lines += [""] + text
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    outdir = Path(args[0])
    (outdir / "summary.md").write_text(render(outdir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
