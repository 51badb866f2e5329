"""torch's CPU threads for an app whose engine runs on a worker thread (the window, the server); no Qt."""

from __future__ import annotations

import os
import sys

#: How long a thread may hold the interpreter while another waits for it. Python's default (5 ms) let the engine's
#: thread keep the window waiting up to 5 ms at each of its Python calls in a paint; at 1 ms the window's gaps over
#: 16 ms at canvas 256 halved (scripts/window_latency.py, 2 cores, real runs: 44 -> 16 and 70 -> 33 of ~2,400 and
#: ~5,300), for a few more hand-overs of the interpreter per step.
GUI_SWITCH_INTERVAL_S = 0.001


def share_the_interpreter_with_the_gui() -> None:
    """The window's thread gets the interpreter back within a millisecond of asking for it."""
    sys.setswitchinterval(min(sys.getswitchinterval(), GUI_SWITCH_INTERVAL_S))


def leave_a_core_for_the_gui() -> None:
    """On the CPU, torch's thread pool would take every core and starve the window's painting; keep one free."""
    import torch

    cores = os.cpu_count() or 1
    if cores > 1 and torch.get_num_threads() >= cores:
        torch.set_num_threads(cores - 1)


def start_cpu_thread_pool() -> None:
    """Run one small parallel op on the main thread before the engine's worker thread runs any.

    Measured on this project's 2-core machine (torch 2.13 CPU, OpenMP), with the CPU shared: until the main thread
    had run a parallel op, a 64 -> 128 linear layer on a worker thread took 0.4-12 ms instead of 0.05-0.2 ms (the
    more other work on the cores, the worse), and a 2-step run of a tiny checkpoint 0.3-3 s instead of 0.04 s.
    One op here is enough.
    """
    import torch

    x = torch.ones(64, 64)
    x @ x
