"""Predictors: what turns a module's slots into ranked guesses.

``Predictor`` is the interface every part depends on (the API, the runner, the service's
admission guard, tests' fakes); ``OnnxPredictor`` is the one that runs the shipped model,
one onnxruntime session per process, shared by all threads.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Protocol, Tuple

import numpy as np

from localtypes.analysis.slots import ExtractedModule, Slot
from localtypes.errors import ModelStoreError
from localtypes.model.encode import Batch, Encoder
from localtypes.model.second_pass import first_answers, with_neighbours
from localtypes.model.store import ModelStore, load_store

if TYPE_CHECKING:
    import onnxruntime


@dataclass(frozen=True)
class TypeGuess:
    """One candidate type for a slot, with the model's calibrated confidence."""

    label: str
    confidence: float


@dataclass(frozen=True)
class ModelInfo:
    """Which model answered: the store's identity, for reports, headers and metrics."""

    name: str
    version: str
    sha256: str
    path: str
    size_bytes: int
    threshold: float
    metrics: Dict[str, Any]
    passes: int = 1  # 2: a first pass answers, the model reads its answers

    @classmethod
    def of_store(cls, store: ModelStore) -> ModelInfo:
        """The identity of a verified store (before, or without, loading its model)."""
        return cls(
            name=store.name,
            version=store.version,
            sha256=store.model_sha256,
            path=str(store.path),
            size_bytes=sum(store.file(name).stat().st_size for name in store.model_files),
            threshold=store.threshold,
            metrics=dict(store.manifest.get("metrics", {})),
            passes=len(store.model_files),
        )

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "version": self.version, "sha256": self.sha256}


class Predictor(Protocol):
    """Ranked guesses for every slot of a module, and which model gives them."""

    @property
    def info(self) -> ModelInfo:
        """The model's identity, threshold and metrics."""
        ...

    def predict(self, module: ExtractedModule, top_k: int = 5) -> List[Tuple[TypeGuess, ...]]:
        """Ranked guesses (best first, at most ``top_k``) for every slot, in slot order."""
        ...


# Slots per onnxruntime call. The model's working memory grows with the slots of one call
# (about 370 KiB each with localtypes-small: 192 candidates x 128 floats, several times),
# so a large file runs in chunks of this many: a 1,500-slot file peaks about 40 MiB above
# the idle process instead of 490. The scores do not depend on the chunking.
CHUNK_SLOTS = 32


class OnnxPredictor:
    """Turns the slots of one module into ranked guesses, in onnxruntime calls of at most
    ``chunk_slots`` slots each; with a store that has a first pass
    (``localtypes.model.second_pass``), its network answers first and the store's model
    reads those answers."""

    def __init__(
        self, store: ModelStore, intra_op_threads: int = 1, chunk_slots: int = CHUNK_SLOTS
    ) -> None:
        if chunk_slots < 3:
            raise ValueError("chunk_slots must be at least 3")
        self.chunk_slots = chunk_slots
        # onnxruntime's wheel records telemetry events and a device id under the user's
        # cache unless this is set before its first import; local-first means nothing of
        # the kind. setdefault: a user may still opt in explicitly.
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        self.store = store
        self.network = _Network(store, "model.onnx", "vocab.json", intra_op_threads)
        first = store.manifest.get("first_pass")
        self.first: Optional[_Network] = None
        if isinstance(first, dict):
            self.first = _Network(
                store, str(first.get("model")), str(first.get("vocab")), intra_op_threads
            )
        self.temperature = float(store.manifest.get("temperature", 1.0))
        self._info = ModelInfo.of_store(store)

    @property
    def info(self) -> ModelInfo:
        return self._info

    def predict(self, module: ExtractedModule, top_k: int = 5) -> List[Tuple[TypeGuess, ...]]:
        """Ranked guesses for every slot of ``module``, in slot order."""
        if not module.slots:
            return []
        module = self.network_input(module)
        return self.network.run(module.slots, module, top_k, self.temperature, self.chunk_slots)

    def network_input(self, module: ExtractedModule) -> ExtractedModule:
        """The module as the store's network reads it: with a first pass, each slot's
        features gain that pass's answers for it and its neighbours."""
        if self.first is None:
            return module
        everything = module.slots + module.context
        # Raw probabilities (no temperature): the second pass was trained on those.
        ranked = self.first.run(everything, module, 1, 1.0, self.chunk_slots)
        return with_neighbours(module, first_answers(everything, ranked))


class _Network:
    """One ONNX network of a store and the encoder of its vocabulary."""

    def __init__(self, store: ModelStore, model: str, vocab: str, intra_op_threads: int) -> None:
        import onnxruntime  # imported here so that `localtypes --help` stays instant

        with _loading(store, vocab):
            self.encoder = Encoder.from_vocab(
                json.loads(store.file(vocab).read_text(encoding="utf-8"))
            )
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        # Spinning threads burn a core between requests; a service wants them asleep.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # The arena keeps the peak of the largest file ever seen (~450 MiB after one big
        # module); without it RSS returns to ~100 MiB. Inference alone takes 20-35% longer
        # without it, yet whole annotate runs showed no steady gain from it (5% faster with
        # one job, 3% slower with two, within this machine's noise): it stays off.
        options.enable_cpu_mem_arena = False
        with _loading(store, model):
            self.session: onnxruntime.InferenceSession = onnxruntime.InferenceSession(
                str(store.file(model)), options, providers=["CPUExecutionProvider"]
            )

    def run(
        self,
        slots: Tuple[Slot, ...],
        module: ExtractedModule,
        top_k: int,
        temperature: float,
        chunk_slots: int,
    ) -> List[Tuple[TypeGuess, ...]]:
        # Encoded once (the candidates are the module's), run and decoded chunk by chunk:
        # the model's memory follows the chunk, not the file.
        batch = self.encoder.encode_slots(slots, module.info)
        out: List[Tuple[TypeGuess, ...]] = []
        for start, stop in chunk_bounds(len(slots), chunk_slots):
            part = slice_batch(batch, start, stop)
            (logits,) = self.session.run(["logits"], part.inputs())
            out += self.encoder.decode(part, np.asarray(logits) / temperature, top_k)
        return out


def chunk_bounds(count: int, size: int) -> List[Tuple[int, int]]:
    """``[start, stop)`` of consecutive chunks of at most ``size`` (>= 3) slots.

    No chunk has a single slot unless the module has one: onnxruntime multiplies a
    one-row matrix by another kernel, whose sums may differ in the last bit, and a file's
    scores must not depend on where its chunks fall. A lone last slot takes one from the
    chunk before it.
    """
    bounds = [(start, min(start + size, count)) for start in range(0, count, size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        (a, b), (_, d) = bounds[-2], bounds[-1]
        bounds[-2:] = [(a, b - 1), (b - 1, d)]
    return bounds


def slice_batch(batch: Batch, start: int, stop: int) -> Batch:
    """The slots ``[start, stop)`` of a one-module batch, with the same candidates."""
    if start == 0 and stop == len(batch.features):
        return batch
    rows = batch.pair_index[:, 0]
    keep = (rows >= start) & (rows < stop)
    keep[0] = False  # the padding row comes first in every batch
    pad_index = batch.pair_index[:1] * 0
    pad_ids = batch.pair_ids[:1] * 0
    return Batch(
        features=batch.features[start:stop],
        cand_static=batch.cand_static,
        cand_mask=batch.cand_mask,
        slot_module=batch.slot_module[start:stop],
        pair_index=np.concatenate([pad_index, batch.pair_index[keep] - np.array([start, 0])]),
        pair_ids=np.concatenate([pad_ids, batch.pair_ids[keep]]),
        cand_labels=batch.cand_labels,
    )


@contextlib.contextmanager
def _loading(store: ModelStore, name: str) -> Iterator[None]:
    """Turn a failure to load one file of a verified store into a ``ModelStoreError``
    (a checksum says the file is the one the manifest lists, not that it is valid)."""
    try:
        yield
    except Exception as exc:
        raise ModelStoreError(
            f"{store.file(name)}: cannot be loaded ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:300]}); the store is damaged"
        ) from None


_default: Optional[Predictor] = None
_default_key: Optional[str] = None
_lock = threading.Lock()


def default_predictor(model_dir: Optional[str] = None) -> Predictor:
    """The process-wide predictor for ``model_dir`` (or the default store), loaded once."""
    global _default, _default_key
    key = model_dir or ""
    with _lock:
        if _default is None or _default_key != key:
            _default = OnnxPredictor(load_store(model_dir))
            _default_key = key
        return _default
