"""The Data tab (data preparation)."""
