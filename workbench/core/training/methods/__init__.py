"""Training methods for projects with few labels: automatic choice (``auto``), logistic
regression on TF-IDF or frozen-encoder features (``linear``), SetFit-style contrastive
tuning (``setfit``), stratified cross-validation for small projects, and the torch
modules that let every method export to the same ONNX bundle."""
