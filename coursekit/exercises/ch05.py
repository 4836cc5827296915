"""Checks of chapter 05 (the codec Transformer): ``exercises/05_codec_transformer.ipynb``.

Each check takes the student's function, prints ``PASS: <name>`` or ``FAIL: <name>: <hint>``
and returns a bool (see :mod:`coursekit.exercises.checks`). References are computed here with
plain NumPy, never with the code under test.

Example
-------
>>> import numpy as np
>>> from coursekit.exercises import ch05
>>> def build_delay(codes, special):
...     K, T = codes.shape
...     out = np.full((K, T + K - 1), special)
...     for k in range(K):
...         out[k, k:k + T] = codes[k]
...     return out
>>> def revert_delay(seq):
...     K, S = seq.shape
...     return np.stack([seq[k, k:k + S - K + 1] for k in range(K)])
>>> ch05.check_delay_pattern(build_delay, revert_delay)
PASS: delay_pattern
True
"""

from __future__ import annotations

import numpy as np

from .checks import challenge, run_check

__all__ = ["check_delay_pattern", "check_top_p", "check_top_p_in_the_reference", "sample_with",
           "check_cached_attention", "pitch_challenge"]


def _ref_delay(codes, special):
    K, T = codes.shape
    out = np.full((K, T + K - 1), special, dtype=np.int64)
    for k in range(K):
        out[k, k:k + T] = codes[k]
    return out


def check_delay_pattern(build_delay, revert_delay) -> bool:
    """``build_delay(codes [K, T], special) -> [K, T + K - 1]`` and ``revert_delay(seq) -> [K, T]``."""

    def test():
        codes = np.array([[1, 2, 3], [4, 5, 6]])
        seq = np.asarray(build_delay(codes, 9))
        assert seq.shape == (2, 4), f"K=2 codebooks, T=3 frames give K x (T + K - 1) = 2 x 4, got {seq.shape}"
        assert seq.tolist() == [[1, 2, 3, 9], [9, 4, 5, 6]], \
            f"step s holds codebook k of frame s - k, empty places hold `special`; got {seq.tolist()}"
        rng = np.random.default_rng(0)
        codes = rng.integers(0, 1024, (4, 11))
        seq = np.asarray(build_delay(codes, 1024))
        assert np.array_equal(seq, _ref_delay(codes, 1024)), "wrong layout for K=4, T=11"
        back = np.asarray(revert_delay(seq))
        assert back.shape == codes.shape, f"revert_delay should give back [K, T] = {codes.shape}, got {back.shape}"
        assert np.array_equal(back, codes), "revert_delay(build_delay(codes)) must give the codes back"
        one = np.asarray(build_delay(codes[:1], 1024))
        assert np.array_equal(one, codes[:1]), "with one codebook the delay pattern changes nothing"

    return run_check("delay_pattern", test, hint=(
        "codebook k moves k steps to the right; the places no code reaches keep the special token",
        "start from a K by (T + K - 1) grid filled with the special token, then copy each codebook's "
        "row in at its own offset k; to revert, read each row back from that same offset, T codes long",
        "the number of frames is the number of steps minus K plus one"))


def _ref_top_p_keep(logits, p):
    order = np.argsort(-logits, kind="stable")
    probs = np.exp(logits[order] - logits.max())
    probs /= probs.sum()
    before = np.cumsum(probs) - probs
    keep = np.zeros(len(logits), bool)
    keep[order[before < p]] = True
    return keep


def _as_numpy(x):
    return x.detach().cpu().double().numpy() if hasattr(x, "detach") else np.asarray(x, dtype=float)


def check_top_p(top_p_filter) -> bool:
    """``top_p_filter(logits [..., V] torch tensor, p) -> logits`` with -inf outside each row's nucleus."""
    import torch

    def test():
        logits = torch.log(torch.tensor([0.1, 0.5, 0.05, 0.3, 0.05]))
        out = top_p_filter(logits.clone(), 0.7)
        assert hasattr(out, "detach"), "give back a torch tensor (the sampler works on tensors)"
        out = _as_numpy(out)
        assert out.shape == (5,), f"same shape as the logits, got {out.shape}"
        kept = np.isfinite(out)
        assert kept.tolist() == [False, True, False, True, False], \
            f"p=0.7 keeps 0.5 and 0.3 (0.5 alone is below 0.7); kept {kept.tolist()}"
        assert np.allclose(out[kept], _as_numpy(logits)[kept]), "kept logits must be unchanged"
        assert np.isfinite(_as_numpy(top_p_filter(logits.clone(), 0.2))).sum() == 1, \
            "a small p keeps only the most likely token (never none)"
        gen = torch.Generator().manual_seed(1)
        batch = torch.randn(3, 4, 12, generator=gen) * 2         # [B, streams, vocab], as in the sampler
        p = 0.6
        got = np.isfinite(_as_numpy(top_p_filter(batch.clone(), p)))
        assert got.shape == tuple(batch.shape), "filter every row of a [B, streams, vocab] tensor at once"
        want = np.stack([_ref_top_p_keep(row, p) for row in _as_numpy(batch).reshape(-1, 12)]).reshape(got.shape)
        assert np.array_equal(got, want), \
            "wrong nucleus in a batch: each row (the last axis) has its own nucleus"
        rng = np.random.default_rng(1)
        for _ in range(20):
            lg = rng.normal(size=12) * 2
            q = float(rng.uniform(0.05, 0.95))
            got = np.isfinite(_as_numpy(top_p_filter(torch.tensor(lg), q)))
            assert np.array_equal(got, _ref_top_p_keep(lg, q)), \
                f"wrong nucleus for p={q:.2f}: keep the most likely tokens until their mass reaches p"

    return run_check("top_p", test, hint=(
        "sort each row from the most to the least likely, and keep tokens while the probability of "
        "the tokens ranked above them is still below p",
        "softmax of the sorted logits, a running (cumulative) sum along the row; subtract each token's "
        "own probability to get the mass ranked above it; the top token is always kept",
        "the decision is made in sorted order: scatter it back to the original order of the vocabulary "
        "(the sort returns the order), then fill the removed places with minus infinity"))


def _reference(device="cpu"):
    """The reference note model and its codec (cached: loaded once)."""
    if "model" not in _REF:
        from ..recipes import transformer as R
        _REF["model"] = R.load_model(device=device)
        _REF["codec"] = R.tokenizer_for(_REF["model"])
    return _REF["model"], _REF["codec"]


_REF: dict = {}


def sample_with(top_p_filter, family=("brass", "flute"), pitch=(60, 67), velocity=(100, 100),
                seconds: float | None = None, top_p: float = 0.8, cfg_scale: float = 3.0, seed: int = 0,
                calls: list | None = None):
    """Codes [B, K, T] sampled by the reference Transformer with ``top_p_filter`` as its nucleus
    filter (``None``: the library's), and the reference codec to decode them."""
    from ..models import transformer as T
    from ..profiles import get_profile

    model, codec = _reference()
    seconds = get_profile().ch05.note_seconds if seconds is None else seconds
    n_frames = int(round(seconds * model.cfg.frame_rate))
    sample_fn = T.sample_logits
    if top_p_filter is not None:
        def sample_fn(logits, temperature, top_k, top_p_, generator):
            def counted(lg, p):
                if calls is not None:
                    calls.append(p)
                return top_p_filter(lg, p)
            return T.sample_logits(logits, temperature, top_k, top_p_, generator, top_p_fn=counted)
    codes = T.generate(model, n_frames, family=list(family), pitch=list(pitch), velocity=list(velocity),
                       cfg_scale=cfg_scale, top_p=top_p, seed=seed, sample_fn=sample_fn)
    return codes, codec


def check_top_p_in_the_reference(top_p_filter) -> bool:
    """The reference Transformer samples with your filter: the same tokens as with the library's."""
    import torch

    def test():
        calls = []
        mine, _ = sample_with(top_p_filter, calls=calls, seed=5)
        assert calls, "the sampler never called your filter"
        library, _ = sample_with(None, seed=5)
        same = float((mine == library).float().mean())
        assert torch.equal(mine, library), (
            f"with the same seed your filter gives {100 * same:.0f} % of the library's tokens; the first "
            "differing token comes from a different nucleus (check a whole batch of rows)")

    return run_check("top_p_in_the_reference", test, hint=(
        "first make the top_p check above pass: the sampler calls your filter at every step",
        "the sampler hands your filter a whole step at once, notes by streams by vocabulary: every row "
        "along the last axis needs its own nucleus, and the tensor must come back with the same shape",
        "a token whose logit is minus infinity can never be drawn; any other change to a kept logit "
        "changes the probabilities, and with them the tokens the same seed draws"))


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def check_cached_attention(attend_step) -> bool:
    """``attend_step(q, k, v, cache) -> (out, cache)``: one new position attends to all cached ones.

    ``q, k, v`` are the new position's query/key/value ``[d]``; ``cache`` is ``None`` or
    ``(K [n, d], V [n, d])`` of the positions before; ``out`` is ``[d]``.
    """

    def test():
        rng = np.random.default_rng(0)
        n, d = 7, 4
        Q, Kf, Vf = (rng.normal(size=(n, d)) for _ in range(3))
        # reference: full causal attention over the whole sequence
        scores = Q @ Kf.T / np.sqrt(d)
        scores[np.triu_indices(n, 1)] = -np.inf
        full = _softmax(scores) @ Vf
        cache = None
        for i in range(n):
            out, cache = attend_step(Q[i], Kf[i], Vf[i], cache)
            out = np.asarray(out, dtype=float)
            assert out.shape == (d,), f"out is one vector [d] = ({d},), got {out.shape}"
            assert np.allclose(out, full[i], atol=1e-6), \
                f"position {i}: the output differs from full causal attention (scale by 1/sqrt(d), " \
                "attend to the cached keys AND the new one)"
            assert len(cache) == 2 and np.asarray(cache[0]).shape == (i + 1, d), \
                f"after position {i} the cache holds {i + 1} keys [{i + 1}, {d}]"

    return run_check("cached_attention", test, hint=(
        "the new key and value join the cache first, so the new position also attends to itself",
        "scores are the dot products of the query with every cached key, divided by the square root of "
        "the dimension; a softmax over them weights the cached values",
        "on the first position the cache is empty: the new key and value are the whole cache"))


def pitch_challenge(knobs: dict, n: int | None = None, seed: int = 0, budget_s: float = 300.0) -> bool:
    """The challenge: notes of the validation split's conditions sampled by the reference model with
    your ``knobs`` (``cfg_scale``, ``temperature``, ``top_p``), judged by CREPE (within 50 cents of the
    asked pitch). The target is the reference model's plain sampling (guidance 1, its card's
    sampling knobs) as its model card records it, averaged over seeds."""
    import json
    import time

    from ..data import dataset_dir
    from ..data.nsynth import read_examples
    from ..eval.embeddings import crepe_pitch
    from ..models import transformer as T
    from ..profiles import get_profile
    from ..recipes import transformer as R

    P = get_profile().ch05
    card = json.loads(R.reference_checkpoint().with_suffix(".json").read_text())
    target = card["metrics"]["measured"]["cfg_1"]["crepe_pitch_acc_over_seeds"]["mean"]
    knobs = {k: float(knobs[k]) for k in ("cfg_scale", "temperature", "top_p") if k in knobs}
    meta = sorted(read_examples(dataset_dir("nsynth", "valid", size=P.nsynth_size, verbose=False)).values(),
                  key=lambda m: m["note_str"])
    pick = np.random.default_rng(seed).choice(len(meta), min(n or P.n_generate, len(meta)), replace=False)
    asked = [meta[i] for i in pick]
    model, codec = _reference()
    t0 = time.perf_counter()
    codes = T.generate(model, int(round(P.note_seconds * model.cfg.frame_rate)),
                       family=[m["instrument_family"] for m in asked], pitch=[m["pitch"] for m in asked],
                       velocity=[m["velocity"] for m in asked], seed=seed, **knobs)
    clips = R.decode_codes(codec, codes)
    est = [crepe_pitch(y, 16000)[0] for y in clips]
    acc = sum(abs(e - m["pitch"]) <= 0.5 for e, m in zip(est, asked) if not np.isnan(e)) / len(asked)
    return challenge(f"pitch accuracy of {len(asked)} validation notes", acc, target, higher_is_better=True,
                     seconds=time.perf_counter() - t0, budget_s=budget_s)
