"""gui train package."""
