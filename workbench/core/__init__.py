"""Qt-free core of Workbench: project store, import/export, training, export, inference."""
