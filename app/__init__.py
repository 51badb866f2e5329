"""The application: the window, the command line and the server, wired over models/ and widgets/."""
