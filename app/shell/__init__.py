"""The window's frame: the main window, its layout, the views it renders and its dialogs."""
