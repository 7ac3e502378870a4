"""The Qt desktop app: a thin shell of panels over :mod:`workbench.core`."""
