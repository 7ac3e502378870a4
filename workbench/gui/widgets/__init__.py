"""gui widgets package."""
