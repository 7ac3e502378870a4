"""Trust in a model: which words drive each label across a project (explanations summed
up). Per-prediction explanations live in ``core/deploy/explain.py`` (they ship in every
bundle); calibration in ``core/training/calibration.py``; plain words in
``core/plain_words.py``."""
