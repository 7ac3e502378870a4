"""core assist package."""
