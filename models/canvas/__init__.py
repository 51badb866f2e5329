"""The numbers a canvas view shows: overlays, inspection, run comparison, running text."""
