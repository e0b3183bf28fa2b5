"""The log-mel front end must match librosa (the paper's feature code) numerically."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from libtrad.models.frontend import log_mel_spectrogram, mel_filterbank, power_to_db, stft_magnitude

librosa = pytest.importorskip("librosa")
SR = 16_000


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(SR * 3) / SR
    return (0.1 * rng.standard_normal(t.size) + 0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.mark.parametrize("n_fft", [2048, 1024])
def test_mel_filterbank_matches_librosa(n_fft):
    ours = mel_filterbank(SR, n_fft, 64)
    ref = librosa.filters.mel(sr=SR, n_fft=n_fft, n_mels=64, dtype=np.float64)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n_fft", [2048, 1024])  # AE: librosa defaults; CNN: window 1024
def test_log_mel_matches_librosa(clip, n_fft):
    ref = librosa.power_to_db(librosa.feature.melspectrogram(y=clip, sr=SR, n_mels=64, n_fft=n_fft, hop_length=512))
    ours = log_mel_spectrogram(torch.from_numpy(clip), SR, n_fft=n_fft, hop_length=512).numpy()
    assert ours.shape == ref.shape == (64, 1 + clip.size // 512)
    np.testing.assert_allclose(ours, ref, atol=1e-3)


def test_mel_power_matches_librosa_before_db(clip):
    ref = librosa.feature.melspectrogram(y=clip.astype(np.float64), sr=SR, n_mels=64)
    power = stft_magnitude(torch.from_numpy(clip.astype(np.float64)), 2048, 512, center=True, power=2.0)
    ours = (torch.from_numpy(mel_filterbank(SR, 2048, 64)) @ power).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-9)


def test_power_to_db_floor_is_per_spectrogram():
    loud = torch.full((1, 4, 5), 1.0)
    quiet = torch.full((1, 4, 5), 1e-6)
    quiet[0, 0, 0] = 1e-20
    batch = power_to_db(torch.cat([loud, quiet]))
    np.testing.assert_allclose(batch[1].numpy(), librosa.power_to_db(quiet[0].numpy()), atol=1e-4)
    assert torch.all(batch[0] == 0.0)


def test_batch_equals_one_call_per_clip(clip):
    batch = torch.from_numpy(np.stack([clip, 0.01 * clip]))
    together = log_mel_spectrogram(batch)
    for i in range(2):
        torch.testing.assert_close(together[i], log_mel_spectrogram(batch[i]))


def test_stft_magnitude_keeps_its_echo_convention():
    x = torch.randn(2, 4000)
    spec = stft_magnitude(x, 400, 160)  # center=False: full frames only
    assert spec.shape == (2, 201, 1 + (4000 - 400) // 160)


@pytest.mark.parametrize("n_fft", [2048, 1024])
def test_numpy_log_mel_image_matches_the_torch_front_end(clip, n_fft):
    """The card figure's torch-free log-mel gives the models' numbers."""
    from libtrad.models.mel_scale import log_mel_image

    ours = log_mel_image(clip, SR, n_fft=n_fft, hop_length=512)
    ref = log_mel_spectrogram(torch.from_numpy(clip.astype(np.float64)), SR, n_fft=n_fft, hop_length=512).numpy()
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_card_figures_do_not_import_torch(fresh_python):
    """A dataset build draws its card figure without paying torch's import (~0.9 s)."""
    out = fresh_python(
        "import sys, io, numpy as np, soundfile as sf, tempfile, pathlib\n"
        "from libtrad.cards.figures import spectrogram_comparison\n"
        "buf = io.BytesIO(); sf.write(buf, np.zeros(16000, dtype='float32') + 0.01, 16000, format='WAV')\n"
        "spectrogram_comparison([('a', buf.getvalue())], pathlib.Path(tempfile.mkdtemp()) / 'f.png')\n"
        "print('torch' in sys.modules)\n"
    )
    assert out.strip().splitlines()[-1] == "False"
