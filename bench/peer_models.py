"""The peers of bench/peers.py: each a function of the training matrix (and settings) that
returns a dense ``[U, I]`` score matrix (ml-100k-sized catalogues: a few thousand items).

Libraries where one exists (``implicit``'s iALS, ``sansa``'s SANSA, scikit-learn's ElasticNet
for SLIM); otherwise a small implementation of the paper's closed form, cited beside it. The
item–item filters follow the reference code of their authors (BSPM: github jeongwhanchoi/BSPM
and the L3AE repository's ``linear_cf/bspm.py``; ChebyCF: chanwoo0806/ChebyCF ``src/module.py``;
L3AE: jaewan7599/L3AE_CIKM2025 ``linear_cf/l3ae.py``), computed densely on the item–item graph
(exact, and fast at these sizes).

Shapes: ``train [U, I]`` sparse 0/1 (CSR); ``text [I, d]`` L2-normalised item vectors;
``histories``: half-life → ``[U, I]`` recency-weighted training rows;
every function returns ``[U, I]`` float scores (train items are excluded by the evaluator).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds

__all__ = ["ease", "ease_recent", "ials", "gf_cf", "item_knn", "rp3beta", "slim", "bspm",
           "chebycf", "sansa", "l3ae"]


def ease(train: sp.csr_matrix, lam: float) -> np.ndarray:
    """EASE (Steck, WWW 2019): ``B = I - P diag(1/diag P)``, ``P = (X^T X + lambda I)^-1``."""
    return _ease_scorer(train, lam)(train)


def _wide(train: sp.csr_matrix) -> bool:
    """Fewer users than half the items: the item–item ridge inverses go through the users'
    side (:class:`_RidgeInverse`); elsewhere the dense inverse, as the ml-100k tables ran."""
    return 2 * train.shape[0] < train.shape[1]


def _dense(matrix) -> np.ndarray:
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)


class _RidgeInverse:
    r""":math:`P = (X^\top X + \lambda I)^{-1}` for ``rows`` :math:`X` ``[n, I]`` with
    :math:`n < I`, never formed: by Woodbury :math:`P = (I - X^\top M X) / \lambda`, :math:`M =
    (X X^\top + \lambda I)^{-1}` ``[n, n]``. Exact, and :math:`O(n^2 I)` instead of the dense
    inverse's :math:`O(I^3)` (ml-latest-small: 671 users, 9,066 items; EASE 33 s → 0.5–0.8 s)."""

    def __init__(self, rows, lam: float):
        self.rows, self.lam = rows, lam
        kernel = _dense(rows @ rows.T)
        kernel[np.diag_indices_from(kernel)] += lam
        self.middle = np.linalg.solve(kernel, _dense(rows))  # M X, [n, I]
        self.diagonal = (1.0 - _column_sums(rows, self.middle)) / lam  # diag P

    def right(self, a) -> np.ndarray:
        """``a P`` for ``a [m, I]`` (dense or sparse), ``[m, I]``."""
        return (_dense(a) - _dense(a @ self.rows.T) @ self.middle) / self.lam


def _column_sums(a, b: np.ndarray) -> np.ndarray:
    """Column sums of the elementwise product of ``a`` (dense or sparse) and dense ``b``."""
    product = a.multiply(b) if sp.issparse(a) else a * b
    return np.asarray(product.sum(0)).ravel()


def _ease_scorer(train: sp.csr_matrix, lam: float):
    """``rows → rows B``: EASE's item weights from ``train`` applied to user rows ``[m, I]``
    (``B = I - P diag(1/diag P)``: dense weights, or :class:`_RidgeInverse` when wide)."""
    if not _wide(train):
        weights = _ease_weights((train.T @ train).toarray(), lam)
        return lambda rows: rows @ weights
    inverse = _RidgeInverse(train, lam)
    return lambda rows: _dense(rows) - inverse.right(rows) / inverse.diagonal


def ease_recent(train: sp.csr_matrix, histories: dict[float, sp.csr_matrix], lam: float,
                half_life: float) -> np.ndarray:
    """EASE's item weights (from ``train``) scoring each user from their recency-weighted row
    ``histories[half_life]`` (the k-th latest item weighs 2^(-k/h): the same user side the
    teacher's filters may choose, :func:`mmgraph.models.temporal.recency_history`): the
    time-aware linear peer, so that the teacher's use of timestamps is not what beats the
    others on a temporal split."""
    last = _RECENT_SCORER
    if last.get("train") is not train or last.get("lam") != lam:  # half_life varies fastest
        last.update(train=train, lam=lam, score=_ease_scorer(train, lam))
    return last["score"](histories[half_life])


#: The last EASE scorer :func:`ease_recent` built, with the ``train`` matrix (held, so that
#: identity cannot match a new matrix at a reused address) and λ it is for.
_RECENT_SCORER: dict[str, object] = {}


def _ease_weights(gram: np.ndarray, lam: float) -> np.ndarray:
    gram = gram.copy()
    gram[np.diag_indices_from(gram)] += lam
    inverse = np.linalg.inv(gram)
    weights = -inverse / np.diag(inverse)
    np.fill_diagonal(weights, 0.0)
    return weights


def ials(train: sp.csr_matrix, factors: int, regularization: float, alpha: float,
         iterations: int = 30, seed: int = 2026) -> np.ndarray:
    """iALS (Hu, Koren & Volinsky, ICDM 2008) from ``implicit``, confidence ``alpha * r``."""
    from implicit.cpu.als import AlternatingLeastSquares

    model = AlternatingLeastSquares(factors=factors, regularization=regularization, alpha=alpha,
                                    iterations=iterations, random_state=seed,
                                    calculate_training_loss=False)
    model.fit(train.astype(np.float32), show_progress=False)
    return model.user_factors @ model.item_factors.T


def _normalised(train: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """``R~ = D_u^-1/2 R D_i^-1/2`` and the item degrees (at least 1)."""
    user_degree = np.maximum(np.asarray(train.sum(1)).ravel(), 1)
    item_degree = np.maximum(np.asarray(train.sum(0)).ravel(), 1)
    return (sp.diags(user_degree ** -0.5) @ train @ sp.diags(item_degree ** -0.5)).tocsr(), \
        item_degree


def _ideal_pass(normalised: sp.csr_matrix, k: int, seed: int = 2026) -> np.ndarray:
    """The top-``k`` right singular vectors of ``R~`` as ``[I, k]``."""
    _, _, vt = svds(normalised.tocsc(), k=k, random_state=seed)
    return vt.T


def _ideal_scores(x: sp.spmatrix | np.ndarray, vectors: np.ndarray, item_degree: np.ndarray
                  ) -> np.ndarray:
    """The degree-normalised ideal low-pass, ``x D^-1/2 V V^T D^1/2`` (GF-CF's and BSPM's)."""
    return ((x @ sp.diags(item_degree ** -0.5)) @ vectors) @ vectors.T * item_degree ** 0.5


def gf_cf(train: sp.csr_matrix, k: int, alpha: float) -> np.ndarray:
    """GF-CF (Shen et al., CIKM 2021): the linear filter ``R~^T R~`` plus ``alpha`` times the
    ideal low-pass filter of the top-``k`` singular directions, degree-normalised."""
    normalised, item_degree = _normalised(train)
    linear = train @ (normalised.T @ normalised)
    vectors = _ideal_pass(normalised, k)
    return np.asarray(linear.todense()) + alpha * _ideal_scores(train, vectors, item_degree)


def _keep_top(weights: np.ndarray, k: int) -> np.ndarray:
    """Zero all but the ``k`` largest entries of each column (the neighbours of each item)."""
    if k >= weights.shape[0]:
        return weights
    cut = np.partition(weights, -k, axis=0)[-k]
    return np.where(weights >= cut[None, :], weights, 0.0)


def item_knn(train: sp.csr_matrix, k: int, shrink: float) -> np.ndarray:
    """ItemKNN-CF (Sarwar et al., WWW 2001), the shrunk cosine of Dacrema et al.'s
    reproducibility study (RecSys 2019): ``s_ij = x_i.x_j / (|x_i||x_j| + shrink)``, each item's
    ``k`` nearest neighbours kept."""
    gram = (train.T @ train).toarray()
    norms = np.sqrt(np.diag(gram))
    similarity = gram / (np.outer(norms, norms) + shrink + 1e-12)
    np.fill_diagonal(similarity, 0.0)
    return train @ _keep_top(similarity, k)


def rp3beta(train: sp.csr_matrix, alpha: float, beta: float, k: int) -> np.ndarray:
    """RP3beta (Paudel et al., ACM TIIS 2017; Dacrema et al. 2019's strongest graph baseline):
    the three-step random walk user→item→user→item with transition probabilities raised to
    ``alpha``, each target item divided by its popularity to the ``beta``, ``k`` neighbours
    kept per item."""
    user_item = sp.diags(1 / np.maximum(np.asarray(train.sum(1)).ravel(), 1)) @ train
    item_user = sp.diags(1 / np.maximum(np.asarray(train.sum(0)).ravel(), 1)) @ train.T
    walk = (item_user.power(alpha) @ user_item.power(alpha)).toarray()
    popularity = np.maximum(np.asarray(train.sum(0)).ravel(), 1)
    walk = walk / popularity[None, :] ** beta
    np.fill_diagonal(walk, 0.0)
    return train @ _keep_top(walk.T, k).T


def slim(train: sp.csr_matrix, alpha: float, l1_ratio: float, k: int = 100) -> np.ndarray:
    """SLIM (Ning & Karypis, ICDM 2011) in its ElasticNet form (Dacrema et al. 2019's
    ``SLIMElasticNetRecommender``): each item's column regressed on every other item's with
    non-negative weights and an elastic-net penalty (scikit-learn), ``k`` largest kept."""
    from sklearn.linear_model import ElasticNet

    matrix = train.tocsc().astype(np.float64)
    model = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, positive=True, fit_intercept=False,
                       copy_X=False, precompute=False, selection="random", max_iter=100,
                       tol=1e-4, random_state=2026)
    weights = np.zeros((matrix.shape[1], matrix.shape[1]))
    for item in range(matrix.shape[1]):
        start, end = matrix.indptr[item], matrix.indptr[item + 1]
        target = np.zeros(matrix.shape[0])
        target[matrix.indices[start:end]] = matrix.data[start:end]
        saved = matrix.data[start:end].copy()
        matrix.data[start:end] = 0.0  # the item may not explain itself
        model.fit(matrix, target)
        weights[:, item] = model.coef_
        matrix.data[start:end] = saved
    return train @ _keep_top(weights, k)


def bspm(train: sp.csr_matrix, sharpen_time: float, sharpen_steps: int, beta: float,
         factors: int, combine: bool = False) -> np.ndarray:
    r"""BSPM-EM (Choi et al., SIGIR 2023), the blurring-sharpening process: blur
    :math:`b = x + \int_0^1 (x P - x)` (one Euler step: :math:`x P`, :math:`P = R~^T R~`), the
    ideal low-pass :math:`i = x D^{-1/2} V V^T D^{1/2}` (one Euler step), then sharpen
    :math:`dy/dt = -y P` from :math:`y_0 = \beta i + b` over ``[0, sharpen_time]`` with
    ``sharpen_steps`` RK4 steps; the score is the last sharpened state, or with ``combine``
    the mean of ``b`` and the sharpened states (the reference code's ``t_point_combination``)."""
    normalised, item_degree = _normalised(train)
    graph = (normalised.T @ normalised).toarray()
    x = train.toarray()
    blurred = x @ graph
    vectors = _ideal_pass(normalised, factors)
    ideal = _ideal_scores(x, vectors, item_degree)
    h = sharpen_time / sharpen_steps
    step = -h * graph  # RK4 on dy/dt = y (-P): y <- y (I + A + A²/2 + A³/6 + A⁴/24), A = -hP
    power, operator = np.eye(len(graph)), np.eye(len(graph))
    for order in range(1, 5):
        power = power @ step / order
        operator += power
    states, state = [blurred], beta * ideal + blurred
    for _ in range(sharpen_steps):
        state = state @ operator
        states.append(state)
    return np.mean(states, axis=0) if combine else state


def chebycf(train: sp.csr_matrix, order: int, flatness: float, ideal_k: int, alpha: float,
            beta: float) -> np.ndarray:
    r"""ChebyCF (Kim et al., SIGIR 2025): a plateau-shaped low-pass response on the item graph
    approximated by Chebyshev interpolation of degree ``order`` (``flatness`` = the paper's
    :math:`\phi`), plus ``alpha`` times the ideal pass of the top ``ideal_k`` singular
    directions, with degree normalisation :math:`D^{-\beta}` before and :math:`D^{\beta}` after
    (``ideal_k = 0`` or ``alpha = 0``: no ideal pass)."""
    normalised, item_degree = _normalised(train)
    laplacian = np.eye(train.shape[1]) - 2 * (normalised.T @ normalised).toarray()  # in [-1, 1]
    nodes = np.arange(order + 1)
    plateau_x = np.round(np.cos((order - nodes) / order * np.pi), 3)
    bend = np.abs(plateau_x) ** flatness * 0.5
    target = np.where(plateau_x < 0, 0.5 + bend, 0.5 - bend).round(3)
    points = np.cos((order + 1 + 0.5 - np.arange(1, order + 2)) / (order + 1) * np.pi)
    basis = [np.ones_like(points), points]
    for _ in range(2, order + 1):
        basis.append(2 * points * basis[-1] - basis[-2])
    coefficients = np.array([(target * b).sum() for b in basis[:order + 1]]) * 2 / (order + 1)
    coefficients[0] /= 2
    signal = train.toarray() * item_degree ** -beta
    terms = [signal, signal @ laplacian]
    for _ in range(2, order + 1):
        terms.append(2 * terms[-1] @ laplacian - terms[-2])
    output = sum(c * t for c, t in zip(coefficients, terms[:order + 1]))
    if ideal_k > 0 and alpha > 0:
        vectors = _ideal_pass(normalised, ideal_k)
        output = output + alpha * (signal @ vectors) @ vectors.T
    return output * item_degree ** beta


def sansa(train: sp.csr_matrix, l2: float, density: float) -> np.ndarray:
    """SANSA (Spišák et al., RecSys 2023) from the ``sansa`` library: EASE through a sparse
    approximate inverse of the Gram matrix's LDL^T factor (exact CHOLMOD factorisation,
    ``density`` = the share of non-zero weights kept)."""
    from sansa import (SANSA, CHOLMODGramianFactorizerConfig, SANSAConfig,
                       UMRUnitLowerTriangleInverterConfig)

    config = SANSAConfig(l2=l2, weight_matrix_density=density,
                         gramian_factorizer_config=CHOLMODGramianFactorizerConfig(),
                         lower_triangle_inverter_config=UMRUnitLowerTriangleInverterConfig(
                             scans=1, finetune_steps=5))
    model = SANSA(config)
    model.fit(train.astype(np.float32).tocsr())
    return model.forward(train.astype(np.float32).tocsr()).toarray()


def l3ae(train: sp.csr_matrix, text: np.ndarray, reg_x: float, reg_f: float,
         reg_e: float) -> np.ndarray:
    r"""L3AE (Moon, Park & Lee, CIKM 2025), EASE regularised toward the text's own item–item
    model: first :math:`C` = EASE of the text Gram matrix :math:`F F^\top` (ridge ``reg_f``),
    then the closed form of :math:`\min_B \|X - XB\|^2 + \lambda_X\|B\|^2 +
    \lambda_E\|B - C\|^2`, :math:`\mathrm{diag}(B) = 0` (``reg_x``, ``reg_e``; ``reg_e = 0``
    is EASE)."""
    if _wide(train):
        return _l3ae_wide(train, text, reg_x, reg_f, reg_e)
    text_weights = _ease_weights(text @ text.T, reg_f)
    gram = (train.T @ train).toarray()
    gram[np.diag_indices_from(gram)] += reg_x + reg_e
    inverse = np.linalg.inv(gram)
    pulled = inverse @ text_weights
    weights = reg_e * pulled - inverse * ((1 + reg_e * np.diag(pulled)) / np.diag(inverse))
    np.fill_diagonal(weights, 0.0)
    return train @ weights


def _l3ae_wide(train: sp.csr_matrix, text: np.ndarray, reg_x: float, reg_f: float,
               reg_e: float) -> np.ndarray:
    r""":func:`l3ae`'s scores through the users' and the text's side (:class:`_RidgeInverse`
    for :math:`P = (X^\top X + (\lambda_X + \lambda_E) I)^{-1}` and the text's
    :math:`P_F`), never an ``[I, I]`` matrix. With :math:`C = I - P_F\,\mathrm{diag}(1/
    \mathrm{diag} P_F)` and :math:`c = (1 + \lambda_E \mathrm{diag}(PC)) / \mathrm{diag} P`,
    the weights are :math:`\lambda_E PC - P\,\mathrm{diag}(c)` off the diagonal and 0 on it
    (where that expression is exactly -1), so the scores are :math:`\lambda_E XPC - XP\,
    \mathrm{diag}(c) + X`."""
    inverse, text_inverse = _RidgeInverse(train, reg_x + reg_e), _RidgeInverse(text.T, reg_f)
    scored = inverse.right(train)  # X P
    pulled = scored - text_inverse.right(scored) / text_inverse.diagonal  # X P C
    # diag(P P_F) = (diag P_F - colsums(X * (M X) P_F)) / lambda, then diag(PC)
    both = (text_inverse.diagonal - _column_sums(train, text_inverse.right(inverse.middle))
            ) / inverse.lam
    pulled_diagonal = inverse.diagonal - both / text_inverse.diagonal
    scale = (1 + reg_e * pulled_diagonal) / inverse.diagonal
    return reg_e * pulled - scored * scale + train.toarray()
