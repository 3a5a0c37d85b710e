"""The `acpw` component provider plugin directory (see PulumiPlugin.yaml and __main__.py)."""
