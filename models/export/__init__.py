"""Data exports of a run and of the user's text, with no Qt."""
