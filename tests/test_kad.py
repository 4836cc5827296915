"""Kernel Audio Distance (coursekit.eval.kad) against the textbook unbiased MMD², and ViSQOL's wrapper."""

import numpy as np
import pytest

from coursekit.eval import kad as K


def textbook_mmd2(x, y, h):
    """The unbiased MMD² written out: full kernel matrices, diagonals removed (float64)."""
    g = 1.0 / (2.0 * h * h)

    def gram(a, b):
        return np.exp(-g * ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    m, n = len(x), len(y)
    kxx, kyy, kxy = gram(x, x), gram(y, y), gram(x, y)
    return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
            - 2.0 * kxy.mean())


@pytest.mark.parametrize("d", [8, 32, 128, 512])
def test_kad_equals_textbook_estimator(d):
    rng = np.random.default_rng(d)
    x = rng.standard_t(4, size=(160, d))
    y = rng.standard_t(4, size=(130, d)) + 0.05 * rng.normal(size=d)
    h = K.median_pairwise_distance(x)
    want = 100.0 * textbook_mmd2(x, y, h)
    for block in (16, 64, 1024):  # blocks that split the sets unevenly, and one that holds them
        got = K.kad(x, y, block=block)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert K.kad(x, y, bandwidth=2 * h) == pytest.approx(100.0 * textbook_mmd2(x, y, 2 * h), rel=1e-9)


def test_bandwidth_is_the_reference_median():
    x = np.array([[0.0], [1.0], [3.0]])
    assert K.median_pairwise_distance(x) == 2.0
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 3)), rng.normal(scale=3.0, size=(50, 3))
    # from x, the reference: kad(a, b) uses a's median, kad(b, a) b's
    assert K.kad(a, b) == pytest.approx(K.kad(a, b, bandwidth=K.median_pairwise_distance(a)), rel=1e-12)
    assert K.kad(a, b) != pytest.approx(K.kad(b, a), rel=1e-3)
    big = rng.normal(size=(5000, 4))   # subsampled past MEDIAN_ROWS: close to the exact median
    assert K.median_pairwise_distance(big) == pytest.approx(K.median_pairwise_distance(big[:3000], 10**6),
                                                            rel=0.02)


@pytest.mark.parametrize("n", [100, 2000])
def test_same_distribution_within_interval_of_zero(n):
    rng = np.random.default_rng(n)
    real = [rng.standard_t(3, size=(1, 16)) for _ in range(n)]
    other = [rng.standard_t(3, size=(1, 16)) for _ in range(n)]
    r = K.kad_clips(real, other, n_boot=100 if n > 500 else 200)
    assert r["ci95"][0] <= 0.0 <= r["ci95"][1], r
    assert abs(r["kad"]) < r["ci95"][1] - r["ci95"][0]


def test_planted_shift_is_seen_and_fad_bias_is_not_kad():
    from coursekit.eval.fad import frechet_distance

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(300, 32)), rng.normal(size=(300, 32))
    shifted = rng.normal(size=(300, 32)) + 0.4
    assert frechet_distance(x, y) > 1.0            # FAD's bias with 300 samples in 32 dimensions
    assert abs(K.kad(x, y)) < 0.3 < K.kad(x, shifted)


def test_clips_leave_out_pairs_within_a_clip():
    rng = np.random.default_rng(2)

    def clip():  # frames of one clip: a clip centre plus small frame noise
        return rng.normal(size=8) + 0.1 * rng.normal(size=(12, 8))

    pooled, by_clip = [], []
    for _ in range(10):  # ten draws of two sets of 60 clips from one distribution
        real, other = [clip() for _ in range(60)], [clip() for _ in range(60)]
        pooled.append(K.kad(np.concatenate(real), np.concatenate(other)))
        by_clip.append(K.kad_clips(real, other, n_boot=0)["kad"])
    # pooled frames count the near-copies within a clip as evidence: on average well above 0
    # for one distribution; leaving those pairs out brings the average back to about 0
    assert np.mean(pooled) > 0.6
    assert abs(np.mean(by_clip)) < 0.35
    r = K.kad_clips(real, other, n_boot=200)
    assert r["ci95"][0] <= 0.0 <= r["ci95"][1]
    # one frame a clip: the same number as kad
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(30, 3))
    assert K.kad_clips(list(x), list(y), n_boot=0)["kad"] == pytest.approx(K.kad(x, y), rel=1e-12)
    # the order of the clips does not matter
    r1 = K.kad_clips(real, other, n_boot=50, seed=3)
    r2 = K.kad_clips(real[::-1], other[::-1], n_boot=0)
    assert r1["kad"] == pytest.approx(r2["kad"], rel=1e-12)


def test_per_sample_scores_are_the_kad_of_one_sample():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(80, 5)), rng.normal(size=(25, 5))
    y[11] += 4.0
    h = K.median_pairwise_distance(x)
    g = 1.0 / (2 * h * h)
    kxx = np.exp(-g * ((x[:, None] - x[None]) ** 2).sum(-1))
    ref_term = (kxx.sum() - len(x)) / (len(x) * (len(x) - 1))
    want = np.array([100 * (1 - 2 * np.exp(-g * ((x - v) ** 2).sum(-1)).mean() + ref_term) for v in y])
    np.testing.assert_allclose(K.kad_per_sample(x, y), want, rtol=1e-9)
    np.testing.assert_allclose(K.kad_per_clip(list(x), list(y)), want, rtol=1e-9)
    assert int(np.argmax(want)) == 11
    # a clip of frames: its own term averages all pairs of its frames, the diagonal included
    clips = [rng.normal(size=(6, 5)) for _ in range(4)]
    got = K.kad_per_clip(list(x), clips)
    for c, s in zip(clips, got):
        kcc = np.exp(-g * ((c[:, None] - c[None]) ** 2).sum(-1)).mean()
        kcx = np.exp(-g * ((c[:, None] - x[None]) ** 2).sum(-1)).mean()
        assert s == pytest.approx(100 * (kcc + ref_term - 2 * kcx), rel=1e-9)


def test_bad_input_says_what():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="different dimensions"):
        K.kad(rng.normal(size=(5, 3)), rng.normal(size=(5, 4)))
    with pytest.raises(ValueError, match="at least 2 rows"):
        K.kad(rng.normal(size=(1, 3)), rng.normal(size=(5, 3)))
    with pytest.raises(ValueError, match="NaN"):
        K.kad(np.full((4, 2), np.nan), rng.normal(size=(5, 2)))
    with pytest.raises(ValueError, match="identical"):
        K.kad(np.ones((4, 2)), rng.normal(size=(5, 2)))
    with pytest.raises(ValueError, match="bandwidth"):
        K.kad(rng.normal(size=(4, 2)), rng.normal(size=(5, 2)), bandwidth=-1)


def test_visqol_ranks_a_clean_copy_above_a_noisy_one():
    from coursekit.eval import perceptual

    if not perceptual.available():
        pytest.skip("visqol-python is not installed")
    sr = 16000
    t = np.arange(2 * sr) / sr
    x = (np.sin(2 * np.pi * 440 * t) + 0.4 * np.sin(2 * np.pi * 1320 * t)) * np.exp(-t)
    rng = np.random.default_rng(0)
    clean = perceptual.visqol(x, x, sr)
    light = perceptual.visqol(x, x + 0.01 * rng.normal(size=x.size), sr)
    heavy = perceptual.visqol(x, x + 0.2 * rng.normal(size=x.size), sr)
    assert 4.5 < clean <= 5.0
    assert clean > light > heavy >= 1.0
    with pytest.raises(ValueError, match="at least 1.0 s"):
        perceptual.visqol(x[:100], x[:100], sr)
