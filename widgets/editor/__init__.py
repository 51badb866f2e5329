"""The editor pane: the text to read and type in, the instruction box and the review bar."""
