"""The README's Python snippet as a project (its program is __main__.py)."""
