"""Session files: writing, reading (formats 1 and 2), autosave files, recorded step arrays."""
