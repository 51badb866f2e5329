"""The command line's sampler options: which sampler runs, and each one's own settings."""

from __future__ import annotations

import argparse

from models.work.settings import CORRECTOR_SELECTIONS, SAMPLERS, SPEC_BY_NAME

#: Options that set one sampler's own settings: option name (argparse dest) -> the setting, and the samplers using it.
SAMPLER_OPTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    name: (name, SPEC_BY_NAME[name].samplers)
    for name in ("entropy_bound", "t_min", "t_max", "temperature", "threshold", "editing_threshold",
                 "corrector_steps", "corrector_k", "corrector_selection_tau")
} | {"corrector_selection": ("corrector_selection", ("ddim",))}



def add_sampler_options(sub: argparse.ArgumentParser) -> None:
    """--sampler and every sampler's own options (each help says which sampler uses it)."""
    sub.add_argument("--sampler", choices=SAMPLERS,
                     help="diffusers' sampler: entropy-bound (default; as transformers' generate), "
                          "block-refinement or ddim (rewrite: default the session's)")
    sub.add_argument("--temperature", type=float, help="block-refinement, ddim: sampling temperature (0: greedy)")
    sub.add_argument("--threshold", type=float, help="block-refinement: commit threshold, in (0, 1]")
    sub.add_argument("--editing-threshold", type=float,
                     help="block-refinement: replace committed tokens above this probability, 0 to 1 (0: off)")
    sub.add_argument("--corrector-steps", type=int, help="ddim: corrector sweeps after each early step (0: off)")
    sub.add_argument("--corrector-k", type=int, help="ddim: positions each corrector sweep resamples")
    sub.add_argument("--corrector-selection", choices=CORRECTOR_SELECTIONS,
                     help="ddim: how a corrector sweep picks its positions")
    sub.add_argument("--corrector-tau", dest="corrector_selection_tau", type=float,
                     help="ddim: temperature of that pick (lower: greedier)")
