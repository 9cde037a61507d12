"""The ``upload-preds`` command line (being built; see the README)."""

from __future__ import annotations

import typer

app = typer.Typer(add_completion=False)


@app.command()
def run() -> None:
    """Upload predictions to Segments.ai."""


def main() -> None:
    app()
