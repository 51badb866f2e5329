"""A loss-curve PNG drawn with PIL (no plotting dependency): raw loss faint, a moving average bold, log scale;
a dashed line where a training phase starts."""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

WIDTH, HEIGHT, MARGIN = 800, 480, 60


def _smooth(values: list[float], window: int) -> list[float]:
    out, total = [], 0.0
    for index, value in enumerate(values):
        total += value
        if index >= window:
            total -= values[index - window]
        out.append(total / min(index + 1, window))
    return out


def write_loss_curve(history: list[dict[str, float]], path: Path) -> None:
    """Plot `loss` and `answer_loss` per step (log10 y axis) into `path`; steps without numbers (phases trained
    elsewhere, before a resume from their checkpoint) are left out."""
    history = [h for h in history if "loss" in h]
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    series = {"loss (canvas)": ([h["loss"] for h in history], (40, 90, 200)),
              "loss (answer tokens)": ([h["answer_loss"] for h in history], (220, 90, 30))}
    values = [v for data, _ in series.values() for v in data if v > 0]
    if not values:
        image.save(path)
        return
    low, high = math.log10(min(values)), math.log10(max(values))
    high = max(high, low + 1e-3)
    steps = max(1, len(history) - 1)

    def point(index: int, value: float) -> tuple[float, float]:
        x = MARGIN + (WIDTH - 2 * MARGIN) * index / steps
        y = HEIGHT - MARGIN - (HEIGHT - 2 * MARGIN) * (math.log10(max(value, 1e-9)) - low) / (high - low)
        return x, y

    draw.rectangle((MARGIN, MARGIN, WIDTH - MARGIN, HEIGHT - MARGIN), outline="black")
    for exponent in range(math.floor(low), math.ceil(high) + 1):
        for mantissa in (1, 2, 5):
            value = mantissa * 10.0**exponent
            if low <= math.log10(value) <= high:
                _, y = point(0, value)
                draw.line((MARGIN - 4, y, MARGIN, y), fill="black")
                draw.text((4, y - 6), f"{value:g}", fill="black")
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        x = MARGIN + (WIDTH - 2 * MARGIN) * fraction
        draw.text((x - 10, HEIGHT - MARGIN + 6), str(round(steps * fraction)), fill="black")
    draw.text((WIDTH // 2 - 20, HEIGHT - 24), "step", fill="black")
    for index in range(1, len(history)):  # where a training phase starts
        if history[index].get("phase", 0) != history[index - 1].get("phase", 0):
            x, _ = point(index, 1.0)
            for y in range(MARGIN, HEIGHT - MARGIN, 8):
                draw.line((x, y, x, y + 4), fill="gray")
            draw.text((x + 4, MARGIN + 4), f"phase {int(history[index]['phase']) + 1}", fill="gray")
    for data, colour in series.values():  # every raw series first: one drawn later would hide an average
        faint = tuple(c + (255 - c) * 3 // 4 for c in colour)
        draw.line([point(i, v) for i, v in enumerate(data)], fill=faint, width=1)
    for row, (label, (data, colour)) in enumerate(series.items()):
        draw.line([point(i, v) for i, v in enumerate(_smooth(data, 50))], fill=colour, width=2)
        # The legend sits above the box: inside it, the first steps' high loss runs through the labels.
        x = MARGIN + 220 * row
        draw.line((x, MARGIN - 14, x + 24, MARGIN - 14), fill=colour, width=2)
        draw.text((x + 30, MARGIN - 20), label, fill=colour)
    draw.text((MARGIN, 14), "Demo model training loss (log scale)", fill="black")
    image.save(path)
