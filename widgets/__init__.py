"""Qt views: each draws from plain data handed to it and sends the user's commands back."""
