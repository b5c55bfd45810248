"""Markdown as text: scanning, word counts, outlines, checks and conversion to other formats."""
