"""The encoders and augmentations of the deep models: the text top layer is MiniLM's own, padding and
absent rows cannot leak in, augmentation is seeded and keeps its invariants."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.deep.augment import DayDropout, ImagingAugment, TokenDropout, modality_dropout
from models.deep.encoders import (
    DiaryEncoder,
    ImagingEncoder,
    TextEncoder,
    pooled_states,
    pretrained_top_layers,
)


@pytest.fixture(scope="module")
def minilm():
    from transformers import AutoModel, AutoTokenizer

    from features.text.extractors import default_model_path

    path = str(default_model_path())
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    return path, tok, model


def test_top_layer_on_frozen_states_reproduces_last_hidden_state(minilm) -> None:
    path, tok, model = minilm
    texts = ["Terminal ileum wall thickening of 7 mm with mural oedema.", "No fistula or abscess."]
    enc = tok(texts, padding=True, return_tensors="pt")  # the second is padded
    assert not enc["attention_mask"].bool().all()
    with torch.no_grad(), torch_threads_1():
        out = model(**enc, output_hidden_states=True)
        layers, config = pretrained_top_layers(path, 5)
        encoder = TextEncoder(layers, config, width=8, dropout=0.0).eval()
        mask = enc["attention_mask"].bool()
        top, cut = encoder.encode_reports(out.hidden_states[5], mask)
    assert len(layers) == 1 and top.shape[1] == mask.shape[1]
    real = mask[..., None].expand_as(top)
    np.testing.assert_allclose(top[real].numpy(), out.last_hidden_state[real].numpy(), atol=2e-5)
    # and the copies are independent of the cached model (training them leaves it untouched)
    assert layers[0].output.dense.weight is not model.encoder.layer[5].output.dense.weight


def torch_threads_1():
    from models.torch_mlp import torch_threads

    return torch_threads(1)


def test_text_encoder_ignores_padding_and_unused_report_slots(minilm) -> None:
    path = minilm[0]
    layers, config = pretrained_top_layers(path, 5)
    torch.manual_seed(0)
    encoder = TextEncoder(layers, config, width=8, dropout=0.0).eval()
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn((2, 3, 20, 384), generator=g)
    attention = torch.zeros((2, 3, 20), dtype=torch.bool)
    attention[:, 0, :12] = True
    attention[:, 1, :7] = True
    reports = torch.tensor([[True, True, False], [True, True, False]])

    def run(h: torch.Tensor) -> np.ndarray:
        frozen = torch.from_numpy(pooled_states(h.numpy(), attention.numpy(), reports.numpy())).float()
        with torch.no_grad():
            return encoder(h, attention, reports, frozen).numpy()

    base = run(hidden)
    garbage = hidden.clone()
    garbage[:, 0, 12:] = 1e3  # padding tokens
    garbage[:, 2] = -1e3  # an unused slot
    np.testing.assert_allclose(run(garbage), base, atol=1e-5)
    moved = hidden.clone()  # a used report does count
    moved[:, 1, :7] += 3.0
    assert not np.allclose(run(moved), base, atol=1e-3)


def test_frozen_layers_out_of_range_is_a_clear_error(minilm) -> None:
    with pytest.raises(ValueError, match="frozen_layers=7"):
        pretrained_top_layers(minilm[0], 7)


def test_imaging_and_diary_encoders_shapes() -> None:
    torch.manual_seed(0)
    img = ImagingEncoder(grid=16, width=16, dropout=0.1)
    assert img(torch.randn(3, 2, 16, 16, 16), torch.tensor([0.0, 1.0, 0.0])).shape == (3, 16)
    diary = DiaryEncoder(n_static=4, width=8, dropout=0.0)
    assert diary(torch.randn(5, 7, 6), torch.randn(5, 4)).shape == (5, 8)
    assert DiaryEncoder(0, 8, 0.0)(torch.randn(5, 7, 6), torch.zeros(5, 0)).shape == (5, 8)


def test_imaging_augment_is_seeded_and_keeps_the_mask_binary() -> None:
    x = torch.randn(4, 2, 16, 16, 16)
    x[:, 1] = (x[:, 1] > 0).float()
    aug = ImagingAugment()
    a = aug([x, torch.zeros(4)], torch.Generator().manual_seed(3))[0]
    b = aug([x, torch.zeros(4)], torch.Generator().manual_seed(3))[0]
    c = aug([x, torch.zeros(4)], torch.Generator().manual_seed(4))[0]
    assert type(a) is torch.Tensor and a.shape == x.shape and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c) and not torch.equal(a, x)
    assert set(a[:, 1].unique().tolist()) <= {0.0, 1.0}


def test_token_dropout_keeps_only_real_tokens() -> None:
    g = torch.Generator().manual_seed(0)
    hidden = torch.arange(2 * 2 * 10, dtype=torch.float32).reshape(2, 2, 10, 1).expand(2, 2, 10, 3)
    attention = torch.zeros(2, 2, 10, dtype=torch.bool)
    attention[0, 0, :6] = True
    attention[0, 1, :2] = True  # shorter than the tokens kept: all of it, then padding
    attention[1, 0, :10] = True
    reports = attention.any(-1)
    h, a, r = TokenDropout(4)([hidden, attention, reports], g)
    assert h.shape == (2, 2, 4, 3) and a.shape == (2, 2, 4) and torch.equal(r, reports)
    assert a[0, 0].all() and a[0, 1].sum() == 2 and a[1, 0].all() and not a[1, 1].any()
    kept = h[0, 0, :, 0].long().tolist()
    assert kept == sorted(kept) and all(0 <= k < 6 for k in kept) and len(set(kept)) == 4
    assert TokenDropout(0)([hidden, attention, reports], g)[0] is hidden


def test_modality_dropout_never_hides_all_of_a_patients_modalities() -> None:
    g = torch.Generator().manual_seed(0)
    present = torch.rand((2000, 3), generator=g) < 0.6
    dropped = modality_dropout(present, 0.7, g)
    assert not (dropped & ~present).any()  # never invents a modality
    had = present.any(dim=1)
    assert dropped[had].any(dim=1).all()
    assert dropped.sum() < 0.9 * present.sum()  # hides some (a row whose every draw hid all keeps all)
    assert torch.equal(modality_dropout(present, 0.0, g), present)


def test_day_dropout_keeps_an_answered_day() -> None:
    g = torch.Generator().manual_seed(0)
    diary = torch.zeros(500, 7, 6)
    answered = torch.rand((500, 7), generator=g) < 0.3
    diary[..., 3:] = answered[..., None].float()
    diary[..., :3] = torch.randn(500, 7, 3, generator=g) * answered[..., None]
    out, _ = DayDropout(0.9)([diary, torch.zeros(500, 0)], g)
    still = out[..., 3:].amax(-1) > 0
    assert not (still & ~answered).any()
    assert still[answered.any(1)].any(1).all()
    assert still.sum() < answered.sum()
    assert ((out[..., :3] != 0) <= still[..., None]).all()  # a hidden day has no values left
