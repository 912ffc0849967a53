"""The spike-rate model as a method of `calspike infer` (`method.SpikeMethod`).

PyTorch is imported only when the model is used, so that choosing OASIS never loads it.
"""

from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from calspike._inputs import open_input
from calspike._io import file_digest
from calspike.data.recording import Recording
from calspike.spikes.method import MethodSettings, json_values, threads_used
from calspike.spikes.model_card import ModelCard, as_range

if TYPE_CHECKING:
    from calspike.models import SpikeRateModel


_PRIVATE: list[Path] = []  # this process's folder for received checkpoints, made on first use
_PRIVATE_LOCK = threading.Lock()  # a threaded worker builds the method in several threads at once


def private_copy(payload: bytes) -> Path:
    """`payload` as a file in a folder of this process's own.

    The folder comes from ``tempfile.mkdtemp`` (a name no one can predict, only this user may
    enter); the file is named by its SHA-256 and checked against it whenever it is used
    again. The folder goes when the process ends.
    """
    with _PRIVATE_LOCK:
        if not _PRIVATE:
            _PRIVATE.append(Path(tempfile.mkdtemp(prefix="calspike-models-")))
            atexit.register(shutil.rmtree, _PRIVATE[0], True)
        digest = hashlib.sha256(payload).hexdigest()
        path = _PRIVATE[0] / f"{digest}.pt"
        if not (path.is_file() and file_digest(path) == digest):
            partial = path.with_suffix(".part")
            partial.write_bytes(payload)
            partial.replace(path)
        return path


class RateModelMethod:
    """Expected spikes per frame from the rate model (`infer_spike_rates`).

    Parameters
    ----------
    settings : MethodSettings
        Its checkpoint (`model`, None for the shipped one), `device`, `threads`,
        `chunk_neurons`, `progress` and `torch_threads`.
    """

    name: ClassVar[str] = "model"

    def __init__(self, settings: MethodSettings) -> None:
        self.settings = settings
        self._loaded: tuple[SpikeRateModel, dict[str, Any], Path] | None = None

    @classmethod
    def from_settings(cls, settings: MethodSettings) -> RateModelMethod:
        """The method for `infer`'s settings; the checkpoint is read on first use."""
        return cls(settings)

    @classmethod
    def on_worker(cls, payload: bytes, settings: MethodSettings) -> RateModelMethod:
        """The method on a Dask worker, from the checkpoint's bytes the client sent.

        They are saved in a private folder of this process (`private_copy`), then read through
        the checkpoint format's own checks. Never a predictable name in the shared temporary
        folder, which any local user could fill with another model first.
        """
        return cls(replace(settings, model=private_copy(payload)))

    def _model(self) -> tuple[SpikeRateModel, dict[str, Any], Path]:
        """(the model, its checkpoint's metadata, its path), loaded once."""
        if self._loaded is None:
            from calspike.spikes.rate import default_model_path, load_rate_model

            model, metadata = load_rate_model(self.settings.model)
            self._loaded = (model, metadata, self.settings.model or default_model_path())
        return self._loaded

    def recorded_settings(self) -> dict[str, Any]:
        """Threads, the checkpoint, the model's config and card, the device."""
        model, metadata, path = self._model()
        card = ModelCard.from_dict(metadata)
        return {
            **threads_used(self.settings.threads),
            "model": str(path),
            "model_config": model.config,
            # per dataset (rows, hours, spikes, indicator) when the card says; else the neurons
            "model_trained_on": card.trained_on,
            # a fine-tuned model: what it started from (`calspike train-rate --init`)
            **(
                {"model_initialised_from": card.initialised_from}
                if card.initialised_from is not None
                else {}
            ),
            "normalised_noise_range": as_range(card.normalised_noise_range),
            "frame_rate_range_hz": as_range(card.frame_rate_range_hz),
            "device": self.settings.device,
        }

    def working_rate(self, rate: float) -> float:
        """The model's input rate (Hz): traces are resampled to it, whatever `rate`."""
        return float(self._model()[0].input_rate)

    def payload(self) -> bytes:
        """The checkpoint's bytes, sent to each Dask worker once."""
        from calspike.spikes.rate import default_model_path

        with open_input(self.settings.model or default_model_path()) as stream:
            return stream.read()

    def worker_settings(self) -> MethodSettings:
        """These settings with this process's PyTorch threads: the workers round alike."""
        import torch

        return replace(self.settings, progress=False, torch_threads=torch.get_num_threads())

    def __call__(self, recording: Recording) -> tuple[np.ndarray, dict[str, Any]]:
        """Expected spikes per frame, and per-neuron noise levels (raw and normalised)."""
        from calspike.spikes.rate import infer_spike_rates

        if self.settings.torch_threads is not None:
            import torch

            torch.set_num_threads(self.settings.torch_threads)
        model, metadata, _ = self._model()
        spikes, info = infer_spike_rates(
            recording,
            model=model,
            metadata=metadata,
            device=self.settings.device,
            chunk_neurons=self.settings.chunk_neurons,
            threads=self.settings.threads,
            progress=self.settings.progress,
        )
        return spikes, {
            "noise_level": json_values(info["noise_level"]),
            "normalised_noise_level": json_values(info["normalised_noise_level"]),
        }
