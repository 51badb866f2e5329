"""Everything below the views, with no Qt: the user's work, the engine, checkpoints, files."""
