"""Menus and views wired to the workspace: each controller turns a user's action into a change."""
