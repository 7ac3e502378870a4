"""gui review package."""
