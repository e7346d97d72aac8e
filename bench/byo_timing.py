"""CPU/GPU timings for docs/byo-gan.md: the 256 px LSUN-plan ProGAN and a SegFormer-b0-sized ADE20K
segmenter, both with random weights (same shapes and cost as the published ones; nothing downloaded).

    python bench/byo_timing.py [--threads 2] [--device cpu] [--dtype float32] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-segmenter", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    from ganpaint.nn.proggan import ProgressiveGenerator, image_latents, lsun_channels

    g = ProgressiveGenerator(lsun_channels(256), 512).eval().to(args.device, dtype)
    print(f"generator: 256 px LSUN plan, {sum(p.numel() for p in g.parameters()):,} parameters")
    h, f = g.split("layer4")
    with torch.inference_mode():
        for n in (1, 8):
            z = image_latents(list(range(n)), 512).to(args.device, dtype)
            r = h(z)
            full = median_ms(lambda z=z: g(z), args.repeats)
            after = median_ms(lambda r=r: f(r), args.repeats)
            print(f"  batch {n}: full forward {full:.0f} ms, layer4 -> image {after:.0f} ms ({full / n:.0f} ms/image)")
    if args.no_segmenter:
        return
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    from ganpaint.hf_segmenter import HFSegmenter, Preprocess

    cfg = SegformerConfig(  # nvidia/segformer-b0-finetuned-ade-512-512's shape, 150 labels
        hidden_sizes=[32, 64, 160, 256], depths=[2, 2, 2, 2], decoder_hidden_size=256, num_labels=150
    )
    net = SegformerForSemanticSegmentation(cfg).eval()
    for side in (256, 512):
        seg = HFSegmenter(net, [f"c{i}" for i in range(150)], "b0", Preprocess(size=(side, side))).to(args.device)
        x = torch.rand(8, 3, 256, 256, device=args.device) * 2 - 1
        ms = median_ms(lambda seg=seg, x=x: seg.probabilities(x), max(1, args.repeats // 2))
        print(f"segformer-b0 (150 classes) at {side} px: batch 8 of 256 px images {ms:.0f} ms ({ms / 8:.0f} ms/image)")


if __name__ == "__main__":
    main()
