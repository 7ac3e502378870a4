"""``python -m workbench``: the same entry point as the ``workbench`` command."""
from workbench.launcher import main

if __name__ == "__main__":
    raise SystemExit(main())
