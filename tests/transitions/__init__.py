"""Transition tests: what every pod holds at every step between two `pulumi up`s."""
