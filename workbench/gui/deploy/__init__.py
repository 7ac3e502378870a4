"""gui deploy package."""
