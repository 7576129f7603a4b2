"""Renderers: turn result objects into rich tables, Markdown, CSV or JSON text."""
