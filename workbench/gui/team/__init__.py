"""gui team package."""
