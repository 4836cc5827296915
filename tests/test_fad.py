"""Tests of the FAD tools: coursekit.eval.fad and its fad_core, fad_stats, embedding_cache.

The reference for the distance is written here independently, the way most FID/FAD code
writes it (``np.cov`` + ``scipy.linalg.sqrtm(s1 @ s2)``), and only trusted where the
covariances are well conditioned.
"""

import doctest
import warnings

import numpy as np
import pytest
import scipy.linalg
from threadpoolctl import threadpool_limits

from coursekit.eval import embedding_cache, fad, fad_core, fad_stats
from coursekit.eval.fad import (
    EmbeddingCache,
    FADInfResult,
    RankDeficientWarning,
    RunningStats,
    bootstrap_ci,
    fad_inf,
    frechet_distance,
    frechet_distance_from_stats,
    gaussian_stats,
    per_sample_scores,
    trace_sqrt_product,
)


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """One BLAS thread: on a small shared CPU, threads waiting on each other cost far more
    than they bring for these matrix sizes (only the thread count changes, nothing else)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------


def _random(rng, n, d):
    return rng.normal(size=(n, d)), rng.normal(loc=0.3, scale=1.5, size=(n, d))


def _low_rank_noise(rng, n, d, rank=None):
    """Low-rank signal + isotropic noise, two different subspaces."""
    rank = rank or max(d // 8, 2)
    out = []
    for shift in (0.0, 0.5):
        basis = rng.normal(size=(rank, d))
        out.append(shift + 3.0 * rng.normal(size=(n, rank)) @ basis / np.sqrt(rank)
                   + 0.5 * rng.normal(size=(n, d)))
    return tuple(out)


def _scaled_correlated(rng, n, d):
    """Dimensions on scales from 1e-2 to 1e2, mixed by a random rotation (correlated)."""
    rot = np.linalg.qr(rng.normal(size=(d, d)))[0]
    scales = np.logspace(-2, 2, d)
    x = (rng.normal(size=(n, d)) * scales) @ rot.T
    y = (rng.normal(size=(n, d)) * scales * rng.uniform(0.5, 2.0, d)) @ rot.T + 0.1
    return x, y


def reference_fd(x, y):
    """The classic formula, written out with plain NumPy/SciPy in float64."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = np.real(covmean)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


CASES = [
    ("random", _random, 300, 8),
    ("low-rank+noise", _low_rank_noise, 400, 64),
    ("scaled+correlated", _scaled_correlated, 1200, 256),
    ("low-rank+noise", _low_rank_noise, 2200, 1024),
]


# ---------------------------------------------------------------------------------------------
# the distance itself
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,make,n,d", CASES, ids=[f"{c[0]}-d{c[3]}" for c in CASES])
def test_matches_independent_sqrtm_reference(kind, make, n, d):
    rng = np.random.default_rng(d)
    x, y = make(rng, n, d)
    # only compare where the reference itself is trustworthy
    for s in (np.cov(x, rowvar=False), np.cov(y, rowvar=False)):
        w = np.linalg.eigvalsh(s)
        assert w[0] > 0 and w[-1] / w[0] < 1e9
    ref = reference_fd(x, y)
    got = frechet_distance(x, y)
    assert isinstance(got, float)
    assert got == pytest.approx(ref, rel=1e-6)
    if d <= 256:  # the module's own sqrtm path agrees too
        assert frechet_distance(x, y, method="sqrtm") == pytest.approx(ref, rel=1e-6)


def test_any_float_dtype_and_torch_tensors():
    rng = np.random.default_rng(0)
    x, y = _random(rng, 200, 6)
    x16, y16 = x.astype(np.float16), y.astype(np.float16)
    expected = reference_fd(x16.astype(np.float64), y16.astype(np.float64))
    assert frechet_distance(x16, y16) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(x.astype(np.float32), y) == pytest.approx(
        reference_fd(x.astype(np.float32).astype(np.float64), y), rel=1e-9
    )
    torch = pytest.importorskip("torch")
    assert frechet_distance(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(
        reference_fd(x, y), rel=1e-9
    )


def test_known_closed_form():
    # means differ by (1, 1); covariances diagonal in the same basis:
    # FD = 2 + sum (sqrt(a) - sqrt(b))^2 = 2 + (1 - 3)^2 + (2 - 1)^2 = 7
    mu1, mu2 = np.zeros(2), np.ones(2)
    s1, s2 = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    assert frechet_distance_from_stats(mu1, s1, mu2, s2) == pytest.approx(7.0, rel=1e-12)
    assert frechet_distance_from_stats(mu1, s1, mu2, s2, method="sqrtm") == pytest.approx(7.0)
    assert trace_sqrt_product(s1, s2) == pytest.approx(5.0, rel=1e-12)


def test_same_set_is_zero_to_round_off():
    rng = np.random.default_rng(1)
    # Round-off in Tr sqrt(S^1/2 S S^1/2) grows with the conditioning of S: the eigenvalues of
    # S^2 span cond(S)^2, and the square roots of the smallest keep about half their digits.
    for make, n, d, tol in [(_random, 300, 16, 1e-12), (_scaled_correlated, 600, 128, 1e-8)]:
        x, _ = make(rng, n, d)
        scale = 2 * np.trace(np.cov(x, rowvar=False))
        assert frechet_distance(x, x) <= tol * scale
        assert frechet_distance(x, x[rng.permutation(n)]) <= tol * scale


def test_symmetric_and_non_negative():
    rng = np.random.default_rng(2)
    x, y = _low_rank_noise(rng, 300, 32)
    assert frechet_distance(x, y) == pytest.approx(frechet_distance(y, x), rel=1e-9)
    # two samples of the same distribution: the true distance is 0, round-off must not
    # make the estimate negative
    for seed in range(20):
        r = np.random.default_rng(seed)
        a, b = r.normal(size=(50, 4)), r.normal(size=(50, 4))
        assert frechet_distance(a, b) >= 0.0
        assert frechet_distance(a, a + 1e-12 * r.normal(size=a.shape)) >= 0.0


def test_negative_round_off_clipped_silently_but_real_negatives_warn():
    mu = np.zeros(3)
    s = np.diag([1.0, 2.0, 3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # round-off: no warning at all
        assert frechet_distance_from_stats(mu, s, mu, s * (1 - 1e-15)) >= 0.0
    # a "covariance" with a negative eigenvalue can drive the sum well below 0
    with pytest.warns(UserWarning, match="more negative than round-off"):
        value = frechet_distance_from_stats(np.zeros(2), np.eye(2), np.zeros(2), np.diag([4.0, -3.0]))
    assert value == 0.0


def test_sqrtm_path_never_passes_disp(monkeypatch):
    calls = []
    real_sqrtm = scipy.linalg.sqrtm

    def strict_sqrtm(a, *args, **kwargs):
        calls.append((args, kwargs))
        assert not args and not kwargs, "sqrtm must be called with the matrix only"
        return real_sqrtm(a)

    monkeypatch.setattr(scipy.linalg, "sqrtm", strict_sqrtm)
    rng = np.random.default_rng(3)
    x, y = _random(rng, 100, 5)
    frechet_distance(x, y, method="sqrtm")
    assert calls


def test_sqrtm_path_complex_and_failed_results(monkeypatch):
    s1, s2 = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])  # Tr sqrt = 5
    real_sqrtm = scipy.linalg.sqrtm

    # round-off imaginary parts are dropped silently, large ones with a warning
    monkeypatch.setattr(scipy.linalg, "sqrtm", lambda a: real_sqrtm(a) + 1e-12j)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert trace_sqrt_product(s1, s2, method="sqrtm") == pytest.approx(5.0)
    monkeypatch.setattr(scipy.linalg, "sqrtm", lambda a: real_sqrtm(a) + 0.5j)
    with pytest.warns(UserWarning, match="significant imaginary part"):
        assert trace_sqrt_product(s1, s2, method="sqrtm") == pytest.approx(5.0)

    # a non-finite result is retried once with a tiny ridge on the diagonals
    calls = []

    def failing_once(a):
        calls.append(a)
        return np.full_like(a, np.nan) if len(calls) == 1 else real_sqrtm(a)

    monkeypatch.setattr(scipy.linalg, "sqrtm", failing_once)
    with pytest.warns(RankDeficientWarning, match="non-finite"):
        assert trace_sqrt_product(s1, s2, method="sqrtm") == pytest.approx(5.0, rel=1e-5)
    assert len(calls) == 2


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown method"):
        trace_sqrt_product(np.eye(2), np.eye(2), method="svd")


# ---------------------------------------------------------------------------------------------
# honest edge cases
# ---------------------------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors():
    rng = np.random.default_rng(4)
    good = rng.normal(size=(20, 3))
    with pytest.raises(ValueError, match="empty"):
        frechet_distance(np.zeros((0, 3)), good)
    with pytest.raises(ValueError, match="1 sample"):
        frechet_distance(good[:1], good)
    nan = good.copy()
    nan[5, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite.*first rows \\[5\\]"):
        frechet_distance(good, nan)
    inf = good.copy()
    inf[2, 0] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        frechet_distance(inf, good)
    with pytest.raises(ValueError, match="different embedding dimensions \\(3 vs 4\\)"):
        frechet_distance(good, rng.normal(size=(20, 4)))
    with pytest.raises(ValueError, match="2-D array"):
        frechet_distance(good[:, 0], good[:, 1])
    with pytest.raises(ValueError, match="2-D array"):
        frechet_distance(good[None], good[None])
    with pytest.raises(ValueError, match="real numeric"):
        frechet_distance(good.astype(complex), good)
    with pytest.raises(ValueError, match="shape \\(3, 3\\)"):
        frechet_distance_from_stats(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="different embedding dimensions"):
        frechet_distance_from_stats(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="non-finite"):
        frechet_distance_from_stats(np.zeros(2), np.eye(2) * np.nan, np.zeros(2), np.eye(2))


def test_fewer_samples_than_dims_warns_rank_deficient():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(10, 16)), rng.normal(size=(100, 16))
    with pytest.warns(RankDeficientWarning, match=r"rank-deficient \(n <= d\).*more samples.*smaller embedding"):
        value = frechet_distance(x, y)
    assert np.isfinite(value) and value >= 0
    with pytest.warns(RankDeficientWarning, match="n=16 samples for dim=16"):
        gaussian_stats(rng.normal(size=(16, 16)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gaussian_stats(rng.normal(size=(17, 16)))  # n > d: no warning


# ---------------------------------------------------------------------------------------------
# statistics: one-shot and streaming
# ---------------------------------------------------------------------------------------------


def test_gaussian_stats_float64_ddof1():
    x = np.random.default_rng(6).normal(size=(50, 5)).astype(np.float32)
    mu, sigma = gaussian_stats(x)
    assert mu.dtype == np.float64 and sigma.dtype == np.float64
    np.testing.assert_allclose(sigma, np.cov(x.astype(np.float64), rowvar=False, ddof=1), rtol=1e-12)
    np.testing.assert_array_equal(sigma, sigma.T)


def test_streaming_equals_one_shot():
    rng = np.random.default_rng(7)
    # a large common offset is where the naive E[xx^T] - mu mu^T formula loses every digit
    x = 1e6 + rng.normal(size=(1001, 12)) @ rng.normal(size=(12, 12))
    mu, sigma = gaussian_stats(x)

    rs = RunningStats()
    cuts = np.sort(rng.choice(np.arange(1, 1000), size=30, replace=False))
    for batch in np.split(x, cuts):
        rs.update(batch.astype(np.float64))
    rs.update(np.zeros((0, 12)))  # empty batches are fine
    assert rs.n == 1001 and rs.dim == 12
    np.testing.assert_allclose(rs.mean, mu, rtol=1e-13)
    np.testing.assert_allclose(rs.cov, sigma, rtol=1e-9, atol=1e-9 * np.abs(sigma).max())

    # one vector at a time, and two accumulators merged (e.g. two workers)
    a, b = RunningStats(), RunningStats(dim=12)
    for row in x[:400]:
        a.update(row)
    b.update(x[400:])
    both = a + b
    assert both.n == 1001 and a.n == 400 and b.n == 601  # + leaves its operands alone
    np.testing.assert_allclose(both.cov, sigma, rtol=1e-9, atol=1e-9 * np.abs(sigma).max())
    a.merge(b)
    np.testing.assert_allclose(a.mean, mu, rtol=1e-13)
    m, s = a.stats()
    assert frechet_distance_from_stats(m, s, mu, sigma) <= 1e-8 * np.trace(sigma)


def test_running_stats_errors():
    rs = RunningStats()
    with pytest.raises(ValueError, match="empty"):
        rs.mean
    rs.update(np.ones(3))
    with pytest.raises(ValueError, match="at least 2"):
        rs.cov
    with pytest.raises(ValueError, match="dimension 4"):
        rs.update(np.ones((2, 4)))
    with pytest.raises(ValueError, match="non-finite"):
        rs.update(np.array([[1.0, np.nan, 0.0]]))
    rs.update(np.zeros((2, 3)))
    with pytest.warns(RankDeficientWarning):
        rs.stats()  # n = 3 = dim
    with pytest.raises(TypeError):
        rs.merge(np.ones(3))


# ---------------------------------------------------------------------------------------------
# FAD-inf, bootstrap, per-sample scores
# ---------------------------------------------------------------------------------------------


def _two_gaussians(seed, n, d, shift=0.25):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(loc=shift, size=(n, d)), d * shift**2


def _known_distance(seed, n, d, shift=0.7, spread=0.2):
    """x ~ N(0, I), y ~ N(mu, diag(b)): true FD = |mu|^2 + sum (1 - sqrt(b))^2."""
    rng = np.random.default_rng(seed)
    b = np.exp(rng.normal(0.0, spread, d))
    mu = np.full(d, shift / np.sqrt(d))
    x = rng.normal(size=(n, d))
    y = mu + rng.normal(size=(n, d)) * np.sqrt(b)
    return x, y, shift**2 + float(((1 - np.sqrt(b)) ** 2).sum())


def test_fad_inf_removes_the_sample_size_bias():
    errs_inf, errs_plain, errs_repl = [], [], []
    for seed in range(3):
        x, y, true = _known_distance(seed, n=1500, d=48)
        res = fad_inf(x, y, seed=seed)
        repl = fad_inf(x, y, seed=seed, replace=True)
        errs_inf.append(abs(res.value - true) / true)
        errs_plain.append(abs(res.fd_full - true) / true)
        errs_repl.append(abs(repl.value - true) / true)
    # here the plain FD is about twice the truth (bias ~ d^2 / (2n) + 2d/n); the intercept is
    # within a few percent
    assert np.mean(errs_plain) > 0.5
    assert np.mean(errs_inf) < 0.25 * np.mean(errs_plain)
    # drawing with replacement keeps (most of) the bias
    assert np.mean(errs_repl) > 0.6 * np.mean(errs_plain)


def test_fad_inf_result_object():
    x, y, _ = _two_gaussians(0, n=600, d=8)
    res = fad_inf(x, y, seed=0, n_sizes=6, n_repeats=2)
    assert isinstance(res, FADInfResult)
    assert float(res) == res.value
    assert len(res.sizes) == len(res.fds) == res.fd_draws.shape[0] and res.fd_draws.shape[1] == 2
    assert res.sizes[0] == 150 and res.sizes[-1] == 600 and np.all(np.diff(res.sizes) > 0)
    assert np.all(res.ref_sizes == res.sizes)  # equal-sized sets: same fraction of each
    assert 0.0 <= res.r2 <= 1.0
    assert res.fd_full == pytest.approx(frechet_distance(x, y))
    # the intercept and slope really describe the points
    b, a = np.polyfit(1.0 / res.sizes, res.fds, 1)
    assert res.intercept == pytest.approx(a) and res.slope == pytest.approx(b)
    assert res.value == max(a, 0.0)
    assert res.predict(res.sizes) == pytest.approx(a + b / res.sizes)
    d = res.to_dict()
    assert d["fad_inf"] == res.value and d["sizes"] == [int(s) for s in res.sizes]
    # same seed, same result; another seed, other draws
    assert fad_inf(x, y, seed=0, n_sizes=6, n_repeats=2).value == res.value
    assert fad_inf(x, y, seed=1, n_sizes=6, n_repeats=2).value != res.value
    fixed = fad_inf(x, y[:300], seed=0, subsample_reference=False, n_sizes=4, n_repeats=1)
    assert np.all(fixed.ref_sizes == 600) and fixed.sizes[-1] == 300


def test_fad_inf_checks():
    x, y, _ = _two_gaussians(0, n=200, d=8)
    with pytest.raises(ValueError, match="n_min"):
        fad_inf(x, y, n_min=200)
    with pytest.raises(ValueError, match="different embedding dimensions"):
        fad_inf(x, y[:, :4])
    with pytest.warns(UserWarning, match="several times the dimension"):
        res = fad_inf(x, y, n_min=12, n_sizes=4, n_repeats=1)
    assert res.notes and "several times the dimension" in res.notes[0]


def test_fad_inf_never_negative():
    rng = np.random.default_rng(10)
    x, y = rng.normal(size=(100, 4)), rng.normal(size=(8, 4))  # same distribution, few samples
    with pytest.warns(UserWarning, match="intercept is .* < 0"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficientWarning)  # tiny subsets: expected here
        res = fad_inf(x, y, seed=0)
    assert res.intercept < 0 and res.value == 0.0 and float(res) == 0.0
    assert "reported as 0" in res.notes[-1]


def test_bootstrap_ci_contains_point_estimate():
    rng = np.random.default_rng(8)
    x, y = _low_rank_noise(rng, 400, 8)
    fd = frechet_distance(x, y)
    low, high, dist = bootstrap_ci(x, y, n_boot=100, seed=0, return_distribution=True)
    assert low <= fd <= high and low < high
    assert dist.shape == (100,) and np.all(dist >= 0)
    assert (low, high) == pytest.approx(tuple(np.quantile(dist, [0.025, 0.975])))
    assert bootstrap_ci(x, y, n_boot=100, seed=0) == (low, high)  # seeded
    b_low, b_high = bootstrap_ci(x, y, n_boot=100, seed=0, method="basic")
    assert b_low <= fd <= b_high
    # a 50 % interval sits inside the 95 % one
    n_low, n_high = bootstrap_ci(x, y, n_boot=100, seed=0, alpha=0.5)
    assert low <= n_low <= n_high <= high
    with pytest.raises(ValueError, match="alpha"):
        bootstrap_ci(x, y, alpha=1.5)


def _brute_force_scores(x_ref, y):
    full = reference_fd(x_ref, y)
    return np.array([full - reference_fd(x_ref, np.delete(y, i, axis=0)) for i in range(len(y))])


@pytest.mark.parametrize("n_ref,n,d", [(300, 40, 6), (400, 120, 24)])
def test_per_sample_scores_match_brute_force(n_ref, n, d):
    rng = np.random.default_rng(d)
    x_ref = rng.normal(size=(n_ref, d)) @ rng.normal(size=(d, d))
    y = rng.normal(size=(n, d)) * np.linspace(0.2, 3.0, d) + 0.3
    scores = per_sample_scores(x_ref, y)
    brute = _brute_force_scores(x_ref, y)
    assert scores.shape == (n,)
    np.testing.assert_allclose(scores, brute, rtol=1e-7, atol=1e-9 * reference_fd(x_ref, y))


def test_per_sample_scores_rank_deficient_and_outlier():
    rng = np.random.default_rng(9)
    x_ref, y = rng.normal(size=(300, 20)), rng.normal(size=(15, 20))  # y: n < d
    with pytest.warns(RankDeficientWarning):
        scores = per_sample_scores(x_ref, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficientWarning)
        full = frechet_distance(x_ref, y)
        brute = np.array([full - frechet_distance(x_ref, np.delete(y, i, 0)) for i in range(len(y))])
    # the eigh route clips the round-off eigenvalues of the singular covariance: looser match
    np.testing.assert_allclose(scores, brute, rtol=1e-5, atol=1e-7 * full)
    # one broken clip stands out
    y = rng.normal(size=(200, 8))
    y[42] += 10.0
    assert int(np.argmax(per_sample_scores(rng.normal(size=(500, 8)), y))) == 42
    with pytest.raises(ValueError, match="at least 3"):
        per_sample_scores(x_ref, y[:2])


# ---------------------------------------------------------------------------------------------
# the embedding cache
# ---------------------------------------------------------------------------------------------


def test_embedding_cache_round_trip_and_keys(tmp_path):
    wav = tmp_path / "clip.wav"
    wav.write_bytes(b"RIFF....some audio bytes")
    cache = EmbeddingCache(tmp_path / "cache")
    assert cache.get(wav, "mfcc-mean") is None
    emb = np.arange(12, dtype=np.float32).reshape(3, 4)
    file = cache.put(wav, "mfcc-mean", emb)
    assert file.suffix == ".npy" and file.is_relative_to(tmp_path / "cache")
    got = cache.get(wav, "mfcc-mean")
    np.testing.assert_array_equal(got, emb)
    assert got.dtype == np.float32

    key = cache.key(wav, "mfcc-mean")
    assert len(key) == 40
    assert cache.key(wav, "classifier") != key  # another embedding
    assert EmbeddingCache(tmp_path / "cache", version="2").key(wav, "mfcc-mean") != key
    moved = tmp_path / "renamed.wav"
    moved.write_bytes(wav.read_bytes())
    assert cache.key(moved, "mfcc-mean") == key  # same content, same key
    np.testing.assert_array_equal(cache.get(moved, "mfcc-mean"), emb)
    wav.write_bytes(b"RIFF....other audio bytes")
    assert cache.key(wav, "mfcc-mean") != key  # content changed: new key, nothing cached
    assert cache.get(wav, "mfcc-mean") is None


def test_embedding_cache_cached_and_damaged_files(tmp_path):
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"abc")
    cache = EmbeddingCache(tmp_path / "c")
    calls = []

    def compute(path):
        calls.append(path)
        return np.ones(5) * len(calls)

    first = cache.cached(wav, "emb/with:odd name", compute)
    second = cache.cached(wav, "emb/with:odd name", compute)
    assert len(calls) == 1 and calls[0] == wav
    np.testing.assert_array_equal(first, second)
    # a damaged file is recomputed, not trusted
    cache._file(cache.key(wav, "emb/with:odd name"), "emb/with:odd name").write_bytes(b"garbage")
    cache.cached(wav, "emb/with:odd name", compute)
    assert len(calls) == 2
    assert not list((tmp_path / "c").rglob("*.tmp"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        cache.get(tmp_path / "missing.wav", "emb")


def test_embedding_cache_default_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSEKIT_CACHE", str(tmp_path / "cache-root"))
    assert EmbeddingCache().folder == tmp_path / "cache-root" / "embeddings"


# ---------------------------------------------------------------------------------------------
# the examples in the docstrings run
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", [fad, fad_core, fad_stats, embedding_cache],
                         ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 5 and result.failed == 0
