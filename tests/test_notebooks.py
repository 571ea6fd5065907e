"""Every notebook runs top to bottom in a fresh kernel, and each ``notebooks/NN_name.py`` (jupytext percent
format) has the same code cells as its executed ``.ipynb`` twin.

The kernel is always the interpreter running pytest: a throw-away kernelspec pointing at ``sys.executable`` is
written to a temporary folder and handed to the kernel manager, so an unrelated ``python3`` kernelspec installed
for the user (or system-wide) can never be picked up instead.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
jupytext = pytest.importorskip("jupytext")
pytest.importorskip("ipykernel")

from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402  (after the skips)
from jupyter_client.manager import KernelManager  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
CELL_TIMEOUT = 120  # seconds per cell
NOTEBOOK_BUDGET = 120  # seconds per notebook, the limit the project sets


@pytest.fixture(scope="session")
def kernel_dir(tmp_path_factory) -> Path:
    """A kernelspec folder whose only kernel, ``python3``, is this interpreter."""
    root = tmp_path_factory.mktemp("kernels")
    spec = root / "python3"
    spec.mkdir()
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python {sys.version_info.major}.{sys.version_info.minor} (pytest)",
        "language": "python",
    }))
    return root


def _code_cells(nb) -> list[str]:
    return [cell.source.strip() for cell in nb.cells if cell.cell_type == "code"]


def test_every_notebook_has_a_pair():
    assert SOURCES, f"no notebooks found in {NOTEBOOKS}"
    for py in SOURCES:
        assert py.with_suffix(".ipynb").exists(), f"{py.name} has no executed .ipynb twin"
    for ipynb in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"):
        assert ipynb.with_suffix(".py").exists(), f"{ipynb.name} has no .py source"


@pytest.mark.parametrize("py", SOURCES, ids=lambda p: p.stem)
def test_pair_in_sync(py):
    """The .py source and the committed .ipynb hold the same code, cell for cell."""
    from_py = jupytext.read(py)
    from_ipynb = nbformat.read(py.with_suffix(".ipynb"), as_version=4)
    assert _code_cells(from_py) == _code_cells(from_ipynb), (
        f"{py.name} and its .ipynb differ; run `jupytext --sync notebooks/{py.name}` and re-execute")


@pytest.mark.parametrize("py", SOURCES, ids=lambda p: p.stem)
def test_notebook_runs(py, kernel_dir):
    """Execute the committed .ipynb in a fresh kernel from ``notebooks/``; any cell error fails the test."""
    nb = nbformat.read(py.with_suffix(".ipynb"), as_version=4)
    km = KernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_dir)]))
    client = nbclient.NotebookClient(nb, km=km, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    # the kernel gets our environment minus MPLBACKEND (conftest sets Agg for this process): inside the notebook
    # matplotlib must use Jupyter's inline backend, as it does for a reader, so figures really are rendered
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    start = time.perf_counter()
    client.execute(env=env)  # raises CellExecutionError, naming the cell, on the first failing cell
    elapsed = time.perf_counter() - start
    assert elapsed < NOTEBOOK_BUDGET, f"{py.name} took {elapsed:.0f} s (budget {NOTEBOOK_BUDGET} s)"
