"""Icons, stylesheet and demo data shipped with Workbench (installed as ``workbench.resources``)."""
