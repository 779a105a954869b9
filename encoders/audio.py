"""Audio encoders: waveforms from files (soundfile), resampled and turned into log-mel patches
with torchaudio; clips of any length (short ones padded, long ones pooled over windows).

- ``musicnn-MSD`` / ``musicnn-MTT``: musicnn's 200-d penultimate layer, weights from the PyPI
  package ``musicnn`` (offline); ``tags()`` gives its 50 tag probabilities;
- anything else: a Hugging Face audio model (wav2vec2, AST, CLAP audio tower, ...) by hub
  name or local folder, mean-pooled over time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile
import torch
import torch.nn.functional as F
import torchaudio

from encoders.base import Encoder
from encoders.hub import load_pretrained
from encoders.media import MediaError
from encoders.musicnn import MSD_TAGS, MTT_TAGS, Musicnn, musicnn_checkpoint

__all__ = ["AudioEncoder", "load_audio", "musicnn_log_mel", "windows"]

SAMPLE_RATE = 16_000
PATCH_FRAMES = 187  # 3 s at hop 256, as musicnn was trained

AudioInput = str | Path | tuple[np.ndarray | torch.Tensor, int]

#: Model names → (checkpoint folder inside the musicnn package, tag names).
MUSICNN_MODELS = {"musicnn-MSD": ("MSD_musicnn", MSD_TAGS),
                  "musicnn-MTT": ("MTT_musicnn", MTT_TAGS)}


def load_audio(source: AudioInput, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Mono float32 waveform ``[samples]`` at ``sample_rate`` from a file or ``(array, sr)``."""
    if isinstance(source, tuple):
        data, rate = source
        data = torch.as_tensor(np.asarray(data, dtype=np.float32))
    else:
        try:
            array, rate = soundfile.read(str(source), dtype="float32", always_2d=True)
        except FileNotFoundError as exc:
            raise MediaError(source, "file not found") from exc
        except (soundfile.LibsndfileError, RuntimeError, ValueError) as exc:
            raise MediaError(source, f"not a readable audio file ({exc})") from exc
        data = torch.from_numpy(array.T.copy())
    data = data.mean(0) if data.dim() == 2 else data
    if data.numel() == 0:
        raise MediaError(source if not isinstance(source, tuple) else "<array>", "empty audio")
    return torchaudio.functional.resample(data, rate, sample_rate) if rate != sample_rate else data


_MEL = torchaudio.transforms.MelSpectrogram(
    sample_rate=SAMPLE_RATE, n_fft=512, hop_length=256, n_mels=96, power=2.0, center=True,
    pad_mode="reflect", norm="slaney", mel_scale="slaney")  # = librosa's defaults


def musicnn_log_mel(waveform: torch.Tensor) -> torch.Tensor:
    """musicnn's input features: ``log10(1 + 10^4 mel)`` (mel rounded through float16 as in
    the original), ``[frames, 96]`` for a 16 kHz ``waveform [samples]``."""
    mel = _MEL(waveform).T.to(torch.float16).float()
    return torch.log10(10_000 * mel + 1)


def windows(features: torch.Tensor, length: int) -> torch.Tensor:
    """Non-overlapping windows ``[W, length, d]`` of ``features [frames, d]``; a clip shorter
    than one window is zero-padded, a trailing partial window of a longer clip is dropped."""
    if features.shape[0] < length:
        features = F.pad(features, (0, 0, 0, length - features.shape[0]))
    count = features.shape[0] // length
    return features[: count * length].reshape(count, length, features.shape[1])


class AudioEncoder(Encoder):
    modality = "audio"

    def __init__(self, model: str = "musicnn-MSD", device: torch.device | str = "cpu"):
        self.device, self.name = torch.device(device), model
        if model in MUSICNN_MODELS:
            folder, self.tag_names = MUSICNN_MODELS[model]
            self.network = Musicnn()
            self.network.load_tf_checkpoint(f"{musicnn_checkpoint(folder)}/")
            self.dim = 200
            self._embed = self._musicnn
        else:
            from transformers import AutoFeatureExtractor, AutoModel

            self.extractor, self.network = load_pretrained(model, "audio", AutoFeatureExtractor,
                                                           AutoModel)
            self.dim = int(self.network.config.hidden_size)
            self._embed = self._hf
        self.network.to(self.device).eval()

    def _musicnn_windows(self, waveform: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Tag logits ``[W, 50]`` and embeddings ``[W, 200]`` of each 3 s window."""
        patches = windows(musicnn_log_mel(waveform), PATCH_FRAMES)
        return self.network(patches.to(self.device))

    def _musicnn(self, waveform: torch.Tensor) -> torch.Tensor:
        return self._musicnn_windows(waveform)[1].mean(0)

    def _hf(self, waveform: torch.Tensor) -> torch.Tensor:
        rate = getattr(self.extractor, "sampling_rate", SAMPLE_RATE)
        if rate != SAMPLE_RATE:
            waveform = torchaudio.functional.resample(waveform, SAMPLE_RATE, rate)
        inputs = self.extractor(waveform.numpy(), sampling_rate=rate, return_tensors="pt")
        return self.network(**inputs.to(self.device)).last_hidden_state.mean(1)[0]

    @torch.inference_mode()
    def encode(self, batch: Sequence[AudioInput]) -> torch.Tensor:
        """Clips (paths or ``(array, sample_rate)``) → ``[B, dim]``, pooled over windows."""
        vectors = torch.stack([self._embed(load_audio(clip)) for clip in batch])
        return F.normalize(vectors.float(), dim=-1).cpu()

    @torch.inference_mode()
    def tags(self, clip: AudioInput) -> dict[str, float]:
        """musicnn tag probabilities of a clip, averaged over its 3 s windows."""
        if self.name not in MUSICNN_MODELS:
            raise ValueError(f"tags() needs a musicnn model, not '{self.name}'")
        logits = self._musicnn_windows(load_audio(clip))[0]
        return dict(zip(self.tag_names, torch.sigmoid(logits).mean(0).tolist()))
