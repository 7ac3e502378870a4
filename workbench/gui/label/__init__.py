"""gui label package."""
