"""The files Diffusion Desk ships with: the demo model, its example prompts and images, the icon and the help's
picture. They are package data: found next to this module in a checkout and in an installed wheel alike."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent
DEMO_MODEL = ROOT / "demo-model"
DEMO_PROMPTS = ROOT / "demo_prompts.json"
DEMO_IMAGES = ROOT / "demo-images"
HELP_PICTURE = ROOT / "screenshots" / "window.png"
ICON_SVG = ROOT / "icon.svg"
ICON_PNG = ROOT / "icon.png"  # 256 x 256, drawn from icon.svg, for menus and window managers without SVG
