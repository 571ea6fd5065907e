"""Records with several outputs (eigh, svd, qr, eig) and the linear algebra built on them: NumPy's result types,
second derivatives in the four nestings against the oracle, JAX's behaviour at repeated eigenvalues, clear errors,
and checkpointed functions with several outputs going through Tape.record."""

from __future__ import annotations

import numpy as np
import pytest

import dualad
import revad
from compare import oracle

RNG = np.random.default_rng(11)
A2 = RNG.uniform(-1, 1, size=(2, 2))
A32 = RNG.uniform(-1, 1, size=(3, 2))
A3 = RNG.uniform(-1, 1, size=(3, 3))

# scalar functions of the decompositions that do not depend on the sign of a singular/eigen vector
SECOND_ORDER = [
    ("eigvalsh weighted", lambda a: np.sum(np.linalg.eigvalsh(a) * np.array([1.0, 2.0])), A2),
    ("eigh vectors squared", lambda a: np.sum(np.linalg.eigh(a).eigenvectors[0] ** 4 * np.linalg.eigh(a)[0]), A2),
    ("svd nuclear norm", lambda a: np.linalg.norm(a, "nuc"), A32),
    ("svd projector", lambda a: np.sum(np.linalg.svd(a, full_matrices=False).U[:, 0] ** 2 * a[:, 0]), A32),
    ("qr R squared", lambda a: np.sum(np.linalg.qr(a).R ** 2 * np.array([[1.0, 2.0], [0.0, 3.0]])), A32),
    ("eig values", lambda a: np.prod(np.linalg.eig(a + np.diag([0.0, 2.0])).eigenvalues), A2),
    ("pinv", lambda a: np.sum(np.linalg.pinv(a) ** 2), A32),
    ("norm ord=2", lambda a: np.linalg.norm(a, 2), A32),
    ("cholesky upper", lambda a: np.sum(np.linalg.cholesky(a @ a.T + np.eye(2), upper=True)), A2),
]


@pytest.mark.parametrize("name,f,x", SECOND_ORDER, ids=[c[0] for c in SECOND_ORDER])
def test_first_and_second_derivatives_in_every_nesting(name, f, x):
    errors = oracle.check(f, x, hessians=True)
    assert len(errors) == 10
    bad = {k: v for k, v in errors.items() if not v < 1e-8}
    assert not bad, f"{name}: {bad}"


@pytest.mark.parametrize("engine", ["dualad", "revad"])
def test_the_user_gets_numpys_result_types_with_traced_fields(engine):
    seen = {}

    def f(a):
        seen["eigh"] = np.linalg.eigh(a)
        seen["svd"] = np.linalg.svd(a)
        seen["qr"] = np.linalg.qr(a)
        seen["slogdet"] = np.linalg.slogdet(a + 3 * np.eye(3))
        return np.sum(seen["eigh"].eigenvalues) + seen["svd"].S[0] + seen["qr"].R[0, 0] + seen["slogdet"].logabsdet

    (dualad.grad if engine == "dualad" else revad.grad)(f)(A3)
    for key, value in seen.items():
        assert type(value) is type(getattr(np.linalg, key)(A3 + 3 * np.eye(3))), key
    assert all(getattr(leaf, "_level", None) is not None for key in ("eigh", "svd", "qr") for leaf in seen[key])


@pytest.mark.parametrize("grad", [dualad.grad, revad.grad, lambda f: dualad.jacfwd(f), lambda f: revad.jacrev(f)])
def test_eigenvalue_gradients_stay_finite_at_repeated_eigenvalues(grad):
    # as in JAX: the eigenvectors' cotangent is a symbolic zero, so no 1 / (w_j - w_i) term is formed
    eye = np.eye(3)
    g = grad(lambda a: np.sum(np.linalg.eigh(a)[0] ** 2))(eye)
    np.testing.assert_allclose(g, 2 * eye)  # d sum(w^2) = 2 A (lower triangle read), at A = I
    g = grad(lambda a: np.sum(np.linalg.svd(a, compute_uv=False)))(eye)
    np.testing.assert_allclose(g, eye)  # d nuclear norm = U Vh


def test_float32_in_float32_out():
    a = A3.astype(np.float32)
    f = lambda x: np.sum(np.linalg.eigh(x).eigenvectors ** 2 * np.linalg.svd(x).S)  # noqa: E731
    assert dualad.grad(f)(a).dtype == np.float32
    assert revad.grad(f)(a).dtype == np.float32


@pytest.mark.parametrize("call,match", [
    (lambda a: np.linalg.svd(a[:, :2]), "full_matrices=False"),
    (lambda a: np.linalg.eig(np.array([[0.0, 1.0], [-1.0, 0.0]]) + 0 * a[:2, :2]), "complex eigenvalues"),
    (lambda a: np.linalg.qr(a, mode="complete"), "mode='reduced'"),
    (lambda a: np.linalg.svd(a, hermitian=True), "hermitian"),
])
@pytest.mark.parametrize("grad", [dualad.grad, revad.grad])
def test_clear_errors(grad, call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        grad(lambda a: np.sum(call(a)[0]))(A3)


def test_matrix_rank_is_a_constant_query():
    for grad in (dualad.grad, revad.grad):
        g = grad(lambda a: np.sum(a) * np.linalg.matrix_rank(a))(A3)
        np.testing.assert_allclose(g, 3 * np.ones((3, 3)))


def test_checkpoint_with_several_outputs_records_through_tape_record(monkeypatch):
    calls = []
    record = revad.tape.Tape.record

    def spy(self, op, *args):
        calls.append(op.name)
        return record(self, op, *args)

    monkeypatch.setattr(revad.tape.Tape, "record", spy)
    block = revad.checkpoint(lambda a: (np.sin(a), np.linalg.eigh(a).eigenvalues))

    def f(a):
        s, w = block(a)
        return np.sum(w ** 2)  # the first output is unused: its cotangent is None

    g = revad.grad(f)(A3)
    assert any(name.startswith("checkpoint") for name in calls)
    np.testing.assert_allclose(g, revad.grad(lambda a: np.sum(np.linalg.eigvalsh(a) ** 2))(A3), rtol=1e-12)


def test_tape_shows_each_output_of_a_record():
    tape = revad.trace(lambda a: np.linalg.eigh(a).eigenvalues[0], A2)
    text = str(tape)
    assert "linalg.eigh[0]" in text and "linalg.eigh[1]" in text
    assert "linalg.eigh[1]" in tape.to_dot()


@pytest.mark.parametrize("cols", [12, 16, 24])
def test_least_squares_on_an_ill_conditioned_fit_is_numpys(cols):
    # a polynomial fit: cond(V) from 1e8 to past 1e15 (rank-deficient at NumPy's cutoff for 24 columns); the traced
    # value must be NumPy's, not the normal equations' (which squared the condition number)
    t = np.linspace(0, 1, 30)
    y = np.sin(3 * t)
    V = np.vander(t, cols, increasing=True)
    expected = np.linalg.norm(V @ np.linalg.lstsq(V, y, rcond=None)[0] - y)
    for value in (revad.vjp(lambda a: np.linalg.lstsq(a, y, rcond=None)[0], V)[0],
                  dualad.jvp(lambda a: np.linalg.lstsq(a, y, rcond=None)[0], (V,), (np.ones_like(V),))[0]):
        assert np.linalg.norm(V @ value - y) <= 10 * expected + 1e-13
    if cols <= 16:
        P = revad.vjp(np.linalg.pinv, V)[0]
        np.testing.assert_allclose(P, np.linalg.pinv(V), rtol=0, atol=1e-9 * np.max(np.abs(np.linalg.pinv(V))))
