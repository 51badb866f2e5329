"""Every command line: `generate`, `rewrite`, `export` and `serve`, with no window."""
