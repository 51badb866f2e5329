"""Exports that paint (animations, step images) and the requests every export front end shares."""
