"""What comes in from outside: validation with one message per refusal, safe files, images, JSON."""
