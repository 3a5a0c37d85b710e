"""Example consumer projects of the acpw component (examples/yaml, examples/python)."""
