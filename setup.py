"""The one build setting pyproject.toml cannot express: the top-level
``resources/`` folder (examples, icons, desktop files) ships inside the wheel
as the data-only package ``nnstudio._resources`` (nnstudio/resources.py finds
it there). Its subfolders are listed as packages too, so setuptools copies
them as declared data instead of warning about undeclared ones."""

from setuptools import find_namespace_packages, find_packages, setup

RESOURCES = [
    "nnstudio._resources",
    *(f"nnstudio._resources.{p}" for p in find_namespace_packages("resources")),
]

setup(
    packages=[*find_packages(include=["nnstudio", "nnstudio.*"]), *RESOURCES],
    package_dir={"nnstudio._resources": "resources"},
    package_data={package: ["*"] for package in RESOURCES},
)
