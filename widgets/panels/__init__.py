"""Side panels and dialogs: conversation, runs, answer, welcome, connect, memory plan."""
