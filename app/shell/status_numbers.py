"""Numbers for the status bar and the statistics panel."""

from __future__ import annotations

import numpy as np

from models.work.document import Document
from models.work.events import GenerationResult
from models.work.recording import GenerationRecord
from models.work.runs import Run


def live_rate(record: GenerationRecord) -> float:
    """Tokens resolved per second so far: committed canvases and the accepted draft tokens, over elapsed time."""
    newest = record.newest()
    if newest is None:
        return 0.0
    step = record.steps(newest[0])[-1]
    done = sum(len(r.committed.token_ids) for r in record.canvases.values() if r.committed is not None)
    return (done + int(step.accepted.sum())) / step.elapsed if step.elapsed > 0 else 0.0


def result_stats(result: GenerationResult, canvas_length: int, seed: int | None, run: str = "") -> dict[str, str]:
    """The numbers shown for a finished run, in the order they are shown."""
    step_ms = 1000 * canvas_length / result.parallel_tokens_per_second if result.parallel_tokens_per_second else 0
    stats = {"Run": run} if run else {}
    stats.update({
        "Effective speed": f"{result.tokens_per_second:.1f} tokens/s",
        "In-step parallel speed": f"{result.parallel_tokens_per_second:.0f} tokens/s",
        "Tokens per forward": f"{result.tokens_per_forward:.2f}",
        "Steps per canvas": ", ".join(str(s) for s in result.canvas_steps) or "–",
        "Adaptive stop": ", ".join("yes" if s else "no" for s in result.adaptive_stops) or "–",
        "Time per step": f"{step_ms:.0f} ms" if step_ms else "–",
        "Total time": f"{result.seconds:.2f} s",
        "Seed": "–" if seed is None else str(seed),
    })
    return stats


def live_stats(run: Run) -> dict[str, str]:
    """The numbers of a run still streaming (or stopped before it ended)."""
    record = run.record
    return {
        "Run": run.label(),
        "Live speed": f"{live_rate(record):.1f} tokens/s",
        "Steps so far": ", ".join(str(len(record.steps(c))) for c in record.canvas_indices) or "–",
        "Seed": str(run.seed),
    }


def document_stats(doc: Document, source: Run | None) -> dict[str, str]:
    """What the text on screen holds, and which run last wrote it."""
    known = doc.entropy[: doc.visible_count]
    known = known[~np.isnan(known)]
    return {
        "Text": f"{doc.visible_count} tokens in {len(doc.ids) // doc.canvas_length} canvas"
                f"{'es' if len(doc.ids) > doc.canvas_length else ''}",
        "Locked": f"{len(doc.locks)} tokens",
        "Mean entropy": f"{float(known.mean()):.3g} nats" if known.size else "–",
        "Last written by": source.label() if source is not None else "you (opened or typed)",
    }
