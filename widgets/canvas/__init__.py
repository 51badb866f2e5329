"""The canvas on screen: the token grid, the running-text view, their overlay bar, legend and inspector."""
