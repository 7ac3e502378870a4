"""The top-level resources/ folder is shipped as the package ``workbench.resources``."""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["workbench", "workbench.*"]) + [
        "workbench.resources",
        "workbench.core.deploy.bundle_template",
    ],
    package_dir={"workbench.resources": "resources"},
)
