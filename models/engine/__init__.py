"""The engine: the sampling loop, the generator over it, and edit plans."""
