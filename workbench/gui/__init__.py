"""The Qt desktop app: a thin shell of panels over :mod:`workbench.core`."""
from workbench.gui._refcount_guard import guard_singleton_refcounts

guard_singleton_refcounts()
