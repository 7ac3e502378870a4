"""How long a training run has left, counting early stopping.

Early stopping ends a run once validation has not improved for ``patience`` epochs, so the
planned step count is only an upper bound. The estimate assumes no further improvement
(the run then stops ``patience - bad`` epochs after the current one) and reports the
planned end as the longest it can take.
"""
from __future__ import annotations

__all__ = ["time_left", "eta_fields"]


def time_left(*, seconds_per_step: float, step: int, total: int, steps_per_epoch: int,
              epoch: int, patience: int, bad: int) -> tuple[float, float]:
    """``(likely, at_most)`` seconds left after optimizer step ``step`` of ``total``.

    ``epoch`` is the current epoch (0-based), ``bad`` the epochs without improvement so far.
    """
    at_most = max(0, total - step) * seconds_per_step
    if patience <= 0 or steps_per_epoch <= 0:
        return at_most, at_most
    stop_step = (epoch + max(1, patience - bad)) * steps_per_epoch
    likely = max(0, min(total, stop_step) - step) * seconds_per_step
    return likely, at_most


def eta_fields(seconds_per_step: float, step: int, total: int, steps_per_epoch: int, epoch: int,
               patience: int, bad: int) -> dict[str, float]:
    """:func:`time_left` as the ``eta_s`` / ``eta_max_s`` fields of a training event."""
    likely, at_most = time_left(seconds_per_step=seconds_per_step, step=step, total=total,
                                steps_per_epoch=steps_per_epoch, epoch=epoch,
                                patience=patience, bad=bad)
    return {"eta_s": likely, "eta_max_s": at_most}
