"""Run NumPy-style test code under JAX: a function written with ``np.*`` calls (a registry sample, a random
program) is rebuilt with every NumPy callable it reaches replaced by its ``jax.numpy`` counterpart.

``mirror(f)`` walks the names ``f``'s code reads from its module globals, its default arguments and its closure
cells, and maps them: the ``numpy`` module to a proxy over ``jax.numpy``; NumPy functions and ufuncs to the
``jax.numpy`` function of the same name; ``adops.nn`` functions to ``jax.nn``; other Python functions to a mirrored
copy of themselves; containers element by element; everything else (shapes, index arrays, constants) unchanged.
Where NumPy and ``jax.numpy`` mean different things by the same name, ``semantics()`` gives a JAX function with
NumPy's meaning.
"""

from __future__ import annotations

import types

import numpy as np

import adops.nn

try:
    import jax
    import jax.numpy as jnp
except ImportError:  # only tests/test_jax_differential.py uses this module, and it skips without JAX
    jax = jnp = None


def _read_triangle(a, upper=False):
    """The symmetric matrix NumPy reads from one triangle of a (JAX symmetrizes (a + a^T) / 2 instead)."""
    if upper:
        return jnp.triu(a) + jnp.swapaxes(jnp.triu(a, 1), -1, -2)
    return jnp.tril(a) + jnp.swapaxes(jnp.tril(a, -1), -1, -2)


def _cholesky_lower(a, upper=False):
    # NumPy reads only one triangle; jnp.linalg.cholesky symmetrizes its input: feed it the symmetric
    # matrix that triangle defines, so both compute the same function of a
    low = jnp.linalg.cholesky(_read_triangle(a, upper))
    return jnp.swapaxes(low, -1, -2) if upper else low


def _eigh(a, UPLO="L"):
    return jnp.linalg.eigh(_read_triangle(a, UPLO in ("U", "u")), symmetrize_input=False)


def _eigvalsh(a, UPLO="L"):
    return _eigh(a, UPLO).eigenvalues


def _with_arrays(fn):
    """jax.numpy rejects Python lists where NumPy takes them as index or count arrays."""

    def call(*args, **kwargs):
        args = tuple(np.asarray(a) if isinstance(a, list) else a for a in args)
        return fn(*args, **kwargs)

    return call


def semantics():
    """NumPy callable -> a JAX function with NumPy's meaning, where the same name means something else in JAX."""
    return {
        np.linalg.cholesky: _cholesky_lower,
        np.linalg.eigh: _eigh,
        np.linalg.eigvalsh: _eigvalsh,
        np.take: _with_arrays(jnp.take),
        np.repeat: _with_arrays(jnp.repeat),
        adops.nn.relu: jax.nn.relu,
        adops.nn.sigmoid: jax.nn.sigmoid,
        adops.nn.softplus: jax.nn.softplus,
        adops.nn.logsumexp: jax.nn.logsumexp,
        adops.nn.softmax: jax.nn.softmax,
        adops.nn.log_softmax: jax.nn.log_softmax,
    }


class _Namespace:
    """A module seen through a ``Mirror``: attribute reads are mirrored."""

    def __init__(self, module, mirror):
        self._module, self._mirror = module, mirror

    def __getattr__(self, name):
        return self._mirror(getattr(self._module, name))


def _numpy_counterpart(obj):
    if isinstance(obj, np.ufunc):
        return getattr(jnp, obj.__name__)
    module = getattr(obj, "__module__", "") or ""
    name = getattr(obj, "__name__", None)
    if name is None or not callable(obj) or isinstance(obj, type):
        return None
    if module.startswith("numpy.linalg"):
        return getattr(jnp.linalg, name)
    if module == "numpy" or module.startswith("numpy._core") or module.startswith("numpy.lib"):
        return getattr(jnp, name)
    return None


def _names(code):
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


class Mirror:
    """``Mirror(overrides)(f)``: the JAX version of ``f``; ``overrides`` maps NumPy callables to JAX functions
    on top of ``semantics()`` (e.g. a JAX function with fwdrev's convention at a kink)."""

    def __init__(self, overrides=None):
        self.table = {**semantics(), **(overrides or {})}
        self.memo: dict[int, tuple] = {}  # id -> (original, kept alive so ids stay unique; mirror)

    def __call__(self, obj):
        try:
            if obj in self.table:
                return self.table[obj]
        except TypeError:  # unhashable
            pass
        if obj is np or obj is np.linalg:
            return _Namespace(obj, self)
        if isinstance(obj, types.ModuleType):
            return _Namespace(obj, self) if obj.__name__.startswith(("adops", "numpy")) else obj
        if isinstance(obj, (list, tuple)):
            return type(obj)(self(o) for o in obj)
        if isinstance(obj, dict):
            return {k: self(v) for k, v in obj.items()}
        if isinstance(obj, types.BuiltinMethodType) and isinstance(getattr(obj, "__self__", None), np.ufunc):
            return getattr(self(obj.__self__), obj.__name__)  # np.add.reduce -> jnp.add.reduce
        counterpart = _numpy_counterpart(obj)
        if counterpart is not None:
            return counterpart
        if isinstance(obj, types.FunctionType):
            return self._function(obj)
        return obj

    def _function(self, obj):
        if id(obj) in self.memo:
            return self.memo[id(obj)][1]
        env = dict(obj.__globals__)
        cells = tuple(types.CellType() for _ in obj.__closure__) if obj.__closure__ else None
        new = types.FunctionType(obj.__code__, env, obj.__name__, None, cells)
        self.memo[id(obj)] = (obj, new)  # before mirroring what it reads: recursion ends here
        for name in _names(obj.__code__):
            if name in env:
                env[name] = self(env[name])
        for cell, old in zip(cells or (), obj.__closure__ or ()):
            cell.cell_contents = self(old.cell_contents)
        new.__defaults__ = self(obj.__defaults__)
        new.__kwdefaults__ = self(obj.__kwdefaults__)
        return new


def mirror(obj):
    """The JAX version of ``obj``, with NumPy's meaning (a fresh ``Mirror``; see the module docstring)."""
    return Mirror()(obj)
