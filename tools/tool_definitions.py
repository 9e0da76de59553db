"""Toolgate's built-in tools, registered when the app registry is ready (see tools.registry)."""
