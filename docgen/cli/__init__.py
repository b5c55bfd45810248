"""The command line: the only package that imports click."""

from docgen.cli.app import cli
from docgen.cli.boundary import main, run

__all__ = ["cli", "main", "run"]
