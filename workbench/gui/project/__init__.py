"""gui project package."""
