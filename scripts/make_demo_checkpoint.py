#!/usr/bin/env python
"""Write the demo checkpoint (resources/demo-model): a tiny DiffusionGemma with random weights from a fixed seed.

It loads like any DiffusionGemma checkpoint, offline, so the app can be tried without downloading the real model.
Its output is noise: the weights are random. Run again to regenerate; the same seed gives the same bytes.

    python scripts/make_demo_checkpoint.py [--out resources/demo-model] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from models.tiny_checkpoint import build_checkpoint  # noqa: E402

#: The demo's shape: an 8x8 canvas grid, a vision tower, well under 10 MB.
DEMO_SETTINGS = {
    "hidden_size": 96,
    "num_layers": 3,
    "heads": 6,
    "kv_heads": 3,
    "vocab_size": 2048,
    "canvas_length": 64,
    "vision": True,
    "image_budget": 70,
    "generation_defaults": {"max_new_tokens": 64},
}
DEMO_SEED = 0
SIZE_LIMIT = 10 * 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "demo-model")
    parser.add_argument("--seed", type=int, default=DEMO_SEED)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    path = build_checkpoint(args.out, seed=args.seed, **DEMO_SETTINGS)
    size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    print(f"wrote {path} ({size / 2**20:.2f} MiB) in {time.perf_counter() - start:.1f} s")
    if size >= SIZE_LIMIT:
        print(f"error: the demo checkpoint is over {SIZE_LIMIT // 2**20} MiB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
