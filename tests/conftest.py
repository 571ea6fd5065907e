"""Shared test setup: headless matplotlib, so Tape.draw and the plots never need a display."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402

matplotlib.use("Agg", force=True)
