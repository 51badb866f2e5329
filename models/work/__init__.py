"""The user's work, with neither Qt nor torch: the workspace, its document, runs and settings."""
