"""Cached against reference sampling of a default-size PixelRNN: prints the speed-up of one run.

    python plugins/zoo-pixelrnn/bench/sampling_speed.py [--arch pixelrnn/row-lstm] [--batch 4]
        [--threads 1] [--device cpu]

Both samplers draw the same images (checked here too); the figure is the ratio of their
wall-clock times, measured in the same process one after the other.
"""

from __future__ import annotations

import argparse
import time

import torch

import zoo_core as zoo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="pixelrnn/row-lstm")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=28, help="height and width of the (1, size, size) images")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = zoo.build(args.arch, event_shape=[1, args.size, args.size], num_levels=256).to(args.device).eval()
    params = sum(p.numel() for p in model.parameters())
    times, draws = {}, {}
    for cache in (True, False):
        generator = torch.Generator().manual_seed(1)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        draws[cache] = model.sample(args.batch, generator=generator, cache=cache)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        times[cache] = time.perf_counter() - start
    print(f"{args.arch} {model.event_shape} levels=256 params={params} batch={args.batch} device={args.device} "
          f"threads={args.threads}")
    print(f"cache=True {times[True]:.2f} s, cache=False {times[False]:.2f} s, "
          f"speed-up {times[False] / times[True]:.1f}x, identical samples: {torch.equal(draws[True], draws[False])}")


if __name__ == "__main__":
    main()
