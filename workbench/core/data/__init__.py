"""core data package."""
