"""Data preparation: normalising, masking personal data, near-duplicates, filters and
augmentation, each previewed, applied as one undoable step and reversible to the
imported text (see :mod:`workbench.core.prep.operations`)."""
