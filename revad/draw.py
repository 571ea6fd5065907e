"""Showing a tape: the Wengert list as text, the computation graph as Graphviz DOT, PNG or a matplotlib figure."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np

from adops.core import ShapeOnly, is_stand_in


def fmt(value) -> str:
    """A short readable form of a forward value or adjoint."""
    value = getattr(value, "primal", value)
    if isinstance(value, ShapeOnly) or is_stand_in(value):  # (what a lean tape keeps of a value no rule reads)
        return "(not kept)"
    if np.ndim(value) == 0:
        v = float(np.asarray(value))
        return f"{v:.4g}"
    arr = np.asarray(value)
    if arr.size <= 4:
        return "[" + ", ".join(f"{v:.3g}" for v in arr.ravel()) + "]"
    return f"array{arr.shape}"


def per_output(records):
    """Records with one entry per output: a record with several outputs (eigh, svd, ...) shows each as
    ``name[j]`` in its own slot."""
    for op, slots, primals, params, ans, out in records:
        if type(out) is int:
            yield op, op.name, slots, primals, params, ans, out
        else:
            for j, (a, s) in enumerate(zip(ans, out)):
                yield op, f"{op.name}[{j}]", slots, primals, params, a, s


def wengert(tape) -> str:
    """One line per record: ``v3 = multiply(w, x)   shape ()   value -4``."""
    lines = [f"# tape level {tape.level}: {len(tape.inputs)} inputs, {len(tape.records)} records, "
             f"{tape.flops} flops, {tape.nbytes} bytes held"]
    for (slot, value), name in zip(tape.inputs, tape.input_names):
        lines.append(f"{name:>6} = input{'':<22} shape {np.shape(value)!s:<10} value {fmt(value)}")
    for op, name, slots, primals, params, ans, out in per_output(tape.records):
        args = ", ".join(tape.slot_name(s) if s >= 0 else fmt(p) for s, p in zip(slots, primals))
        call = f"{name}({args})"
        lines.append(f"{tape.slot_name(out):>6} = {call:<27} shape {np.shape(getattr(ans, 'primal', ans))!s:<10} "
                     f"value {fmt(ans)}")
    return "\n".join(lines)


def to_dot(tape) -> str:
    """Graphviz DOT text of the graph; each node shows its value and, after ``backward``, its adjoint."""
    adj = tape.adjoints or {}
    out = ["digraph tape {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=11];']

    def node_label(name, value, slot, what=""):
        text = f"{name}{what}\\nvalue {fmt(value)}"
        if slot in adj:
            text += f"\\nadjoint {fmt(adj[slot])}"
        return text

    for (slot, value), name in zip(tape.inputs, tape.input_names):
        label = node_label(name, value, slot)
        out.append(f'  n{slot} [shape=box, style=filled, fillcolor="#dbe9f6", label="{label}"];')
    for k, (op, opname, slots, primals, params, ans, slot) in enumerate(per_output(tape.records)):
        label = node_label(tape.slot_name(slot), ans, slot, " = " + opname)
        out.append(f'  n{slot} [shape=ellipse, label="{label}"];')
        for j, (s, p) in enumerate(zip(slots, primals)):
            if s >= 0:
                out.append(f"  n{s} -> n{slot};")
            else:
                out.append(f'  c{k}_{j} [shape=plaintext, label="{fmt(p)}"];')
                out.append(f"  c{k}_{j} -> n{slot} [style=dashed];")
    out.append("}")
    return "\n".join(out)


def _depths(tape):
    depth = {slot: 0 for slot, _ in tape.inputs}
    for op, name, slots, primals, params, ans, slot in per_output(tape.records):
        depth[slot] = 1 + max((depth.get(s, 0) for s in slots if s >= 0), default=0)
    return depth


def draw_matplotlib(tape, path=None):
    """A layered drawing of the graph with matplotlib (no Graphviz needed)."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    depth = _depths(tape)
    columns: dict = {}
    for slot, d in depth.items():
        columns.setdefault(d, []).append(slot)
    step_x, step_y = 2.4, 1.5
    pos = {}
    for d, slots in columns.items():
        for i, slot in enumerate(slots):
            pos[slot] = (d * step_x, -(i - (len(slots) - 1) / 2) * step_y)
    n_cols = max(columns) + 1 if columns else 1
    n_rows = max((len(v) for v in columns.values()), default=1)
    fig, ax = plt.subplots(figsize=(max(6.0, 2.1 * n_cols + 1), max(3.0, 1.3 * n_rows + 1.5)))
    adj = tape.adjoints or {}
    values = {slot: value for slot, value in tape.inputs}
    names, edges, constants = {}, [], []
    for op, name, slots, primals, params, ans, slot in per_output(tape.records):
        values[slot] = ans
        names[slot] = name
        for s, p in zip(slots, primals):
            if s >= 0:
                edges.append((s, slot))
            else:
                constants.append((slot, p))
    boxes = {}
    for slot, (x, y) in pos.items():
        title = tape.slot_name(slot) + (f" = {names[slot]}" if slot in names else "")
        text = f"{title}\nvalue {fmt(values[slot])}"
        if slot in adj:
            text += f"\nadjoint {fmt(adj[slot])}"
        boxes[slot] = ax.text(x, y, text, ha="center", va="center", fontsize=10, zorder=3,
                              bbox=dict(boxstyle="round,pad=0.4", fc="#dbe9f6" if slot not in names else "white",
                                        ec="0.3"))
    for k, (slot, value) in enumerate(constants):
        x, y = pos[slot]
        boxes[("c", k)] = ax.text(x - step_x / 2, y + step_y * 0.55, f"const {fmt(value)}", ha="center",
                                  va="center", fontsize=8, color="0.35", zorder=3)
        edges.append((("c", k), slot))
    for src, dst in edges:
        start = pos[src] if src in pos else boxes[src].get_position()
        ax.annotate("", xy=pos[dst], xytext=start, zorder=2,
                    arrowprops=dict(arrowstyle="-|>", color="0.4", linestyle="--" if src not in pos else "-",
                                    patchA=boxes[src].get_bbox_patch(), patchB=boxes[dst].get_bbox_patch(),
                                    shrinkA=4, shrinkB=4))
    xs = [p[0] for p in pos.values()] or [0]
    ys = [p[1] for p in pos.values()] or [0]
    ax.set_xlim(min(xs) - 1.3, max(xs) + 1.3)
    ax.set_ylim(min(ys) - 1.0, max(ys) + 1.2)
    ax.axis("off")
    ax.set_title("computation graph: values left to right" + (", adjoints right to left" if adj else ""))
    fig.tight_layout()
    if path is None:
        return fig
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def draw(tape, path=None, backend: str = "auto"):
    """PNG through Graphviz's ``dot`` when installed (and a path is given), else a matplotlib drawing."""
    if backend not in ("auto", "graphviz", "matplotlib"):
        raise ValueError(f"Tape.draw: backend must be 'auto', 'graphviz' or 'matplotlib', got {backend!r}")
    dot = shutil.which("dot")
    if backend == "graphviz" and dot is None:
        raise RuntimeError("Tape.draw: backend='graphviz' needs the Graphviz 'dot' program on PATH; install "
                           "Graphviz or use backend='matplotlib'")
    if path is not None and dot is not None and backend != "matplotlib":
        subprocess.run([dot, "-Tpng", "-o", str(path)], input=to_dot(tape).encode(), check=True)
        return path
    return draw_matplotlib(tape, path)
