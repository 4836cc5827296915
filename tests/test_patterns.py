"""Token layouts of chapter 05, pinned on small hand-written grids."""

import numpy as np
import pytest
import torch

from coursekit.models import patterns as P

# K = 3 codebooks, T = 4 frames; code = 10 * codebook + frame + 1 so every entry is readable
CODES = torch.tensor([[[1, 2, 3, 4],
                       [11, 12, 13, 14],
                       [21, 22, 23, 24]]])
CARD = 32
E = CARD  # the empty token


def test_delay_layout_is_pinned():
    seq = P.build_pattern(CODES, "delay", card=CARD)
    assert seq.tolist() == [[[1, 2, 3, 4, E, E],
                             [E, 11, 12, 13, 14, E],
                             [E, E, 21, 22, 23, 24]]]
    # step s carries codebook k of frame s - k
    for s in range(6):
        for k in range(3):
            t = s - k
            want = CODES[0, k, t].item() if 0 <= t < 4 else E
            assert seq[0, k, s].item() == want


def test_flatten_layout_is_pinned():
    seq = P.build_pattern(CODES, "flatten", card=CARD)
    assert seq.tolist() == [[[1, 32 + 11, 64 + 21, 2, 32 + 12, 64 + 22,
                              3, 32 + 13, 64 + 23, 4, 32 + 14, 64 + 24]]]


def test_parallel_layout_is_the_grid():
    assert torch.equal(P.build_pattern(CODES, "parallel", card=CARD), CODES)


@pytest.mark.parametrize("name", P.PATTERNS)
def test_revert_restores_the_codes(name):
    rng = np.random.default_rng(0)
    codes = torch.as_tensor(rng.integers(0, 16, (3, 4, 7)))
    seq = P.build_pattern(codes, name, card=16)
    assert seq.shape[-1] == P.sequence_length(7, 4, name)
    assert seq.shape[1] == P.n_streams(name, 4)
    assert int(seq.max()) < P.vocab_size(name, 4, 16)
    back = P.revert_pattern(seq, name, n_q=4, card=16)
    assert torch.equal(back, codes)


def test_sequence_lengths():
    assert P.sequence_length(200, 4, "flatten") == 800
    assert P.sequence_length(200, 4, "parallel") == 200
    assert P.sequence_length(200, 4, "delay") == 203


def test_layout_and_empty_mask_match_the_sequence():
    frame, book = P.layout(4, 3, "delay")
    assert frame.tolist() == [[0, 1, 2, 3, -1, -1], [-1, 0, 1, 2, 3, -1], [-1, -1, 0, 1, 2, 3]]
    assert book.tolist() == [[0] * 6, [1] * 6, [2] * 6]
    seq = P.build_pattern(CODES, "delay", card=CARD)[0].numpy()
    assert np.array_equal(P.empty_mask(4, 3, "delay"), seq == E)
    frame, book = P.layout(2, 3, "flatten")
    assert frame.tolist() == [[0, 0, 0, 1, 1, 1]] and book.tolist() == [[0, 1, 2, 0, 1, 2]]
    assert not P.empty_mask(4, 3, "parallel").any()


def test_undelay_of_a_sequence_cut_short():
    seq = P.build_pattern(CODES, "delay", card=CARD)
    # the first 4 steps hold frames 0..1 completely (codebook 2 of frame 1 is at step 3)
    assert P.undelay(seq[..., :4], n_frames=2).tolist() == [[[1, 2], [11, 12], [21, 22]]]
    with pytest.raises(ValueError, match="at most"):
        P.undelay(seq[..., :4], n_frames=3)


def test_two_dimensional_input_and_clear_errors():
    assert P.build_pattern(CODES[0], "delay", card=CARD).shape == (1, 3, 6)
    with pytest.raises(ValueError, match="unknown pattern"):
        P.build_pattern(CODES, "zigzag")
    with pytest.raises(ValueError, match="integers"):
        P.build_pattern(CODES.float(), "delay")
    with pytest.raises(ValueError, match=r"\[B, K, T\]"):
        P.build_pattern(torch.zeros(5, dtype=torch.long), "delay")
    with pytest.raises(ValueError, match="n_q"):
        P.revert_pattern(P.flatten(CODES, CARD), "flatten", card=CARD)
