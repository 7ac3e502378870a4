"""Smaller and faster models derived from a finished run.

``vocab_trim`` keeps only the vocabulary a project uses, ``distill`` trains a smaller
student on the teacher's soft targets (labelled and unlabelled records), ``prune`` removes
the least important feed-forward neurons and recovers with a short distillation,
``static_quant`` writes a static (QDQ) int8 model calibrated on project texts, and
``variants`` exports and measures every variant of a run for the Deploy table.

Every derived model is a normal training run whose config records its parent run and the
method (``config["compression"]``). Nothing is written to the project or the models
folder until a job has finished: a cancelled or crashed job leaves no run behind.
"""
