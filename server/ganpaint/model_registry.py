"""The model registry: which models a server has, and the one home of the rules for loading and checking one.

    registry = ModelRegistry(models_dir, precomputed_dir, device="cpu", dtype="float32")
    m = registry.model("scenes64")        # loaded on first use: the serving copy, its dissections, its sha256
    registry.model("nope")                # NotFoundError naming the models there are (the API answers 404)

``read_model`` reads a model's files and checks them: ``model.json``, the generator's weights, each dissected
layer (one that cannot be read raises ``DissectionUnreadable``; one whose layer or feature shape does not match
the generator is left out, its reason in ``ModelFiles.problems``), the default layer. The server loads models
through it; ``ganpaint serve``'s start-up check (api/startup.py) reads the same verdicts and refuses to start
on any of them. A new model family (another generator architecture) plugs in where ``read_model`` loads the
generator (``ganpaint.nn``) and where ``ModelRegistry._serving`` prepares it for serving.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ganpaint.models import ModelInfo, check_model_id, list_model_ids, load_model_info
from ganpaint.nn.proggan import ProgressiveGenerator, load_generator, serving_copy
from ganpaint.precomputed import Precomputed, load_precomputed, precomputed_layers
from ganpaint.refine import Refiner, load_refiner

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


class NotFoundError(ValueError):
    """An unknown model, layer or concept (the API answers 404)."""


class ModelProblem(ValueError):
    """A model's files are there but cannot be served (one sentence naming the model and the file)."""


class DissectionUnreadable(Exception):
    """A dissection file that cannot be read (``cause``: why)."""

    def __init__(self, model_id: str, layer: str, cause: Exception):
        super().__init__(f"the dissection of model {model_id!r} at {layer} cannot be loaded: {cause}")
        self.layer, self.cause = layer, cause


@dataclass
class LoadedModel:
    info: ModelInfo
    generator: ProgressiveGenerator
    precomputed: dict[str, Precomputed]  # by layer
    sha256: str
    splits: dict[str, tuple[nn.Module, nn.Module]] = field(default_factory=dict)
    refiner: Refiner | None = None  # models/<id>/refiner.pth: 4x sharper frames (ganpaint.refine)

    @property
    def id(self) -> str:
        return self.info.id

    def split(self, layer: str) -> tuple[nn.Module, nn.Module]:
        if layer not in self.splits:
            self.splits[layer] = self.generator.split(layer)
        return self.splits[layer]

    def check_layer(self, layer: str) -> str:
        if layer not in self.generator.layer_names:
            raise NotFoundError(
                f"unknown layer {layer!r} for model {self.id!r}; available: {', '.join(self.generator.layer_names)}"
            )
        return layer

    def dissection(self, layer: str) -> Precomputed:
        """The precomputed concepts at ``layer``; NotFoundError if that layer was not dissected."""
        self.check_layer(layer)
        if layer not in self.precomputed:
            have = ", ".join(self.precomputed) or "none"
            raise NotFoundError(f"layer {layer!r} of model {self.id!r} has no dissection; dissected layers: {have}")
        return self.precomputed[layer]


@dataclass
class ModelFiles:
    """A model's files, read and checked (``read_model``)."""

    info: ModelInfo
    generator: ProgressiveGenerator  # as stored (not yet prepared for serving)
    dissections: dict[str, Precomputed]  # the layers that can be painted
    layers: list[str]  # every dissected layer found on disk
    problems: list[str]  # why a dissection was left out, one sentence each


def read_model(model_id: str, models_dir: Path, precomputed_dir: Path) -> ModelFiles:
    """Read and check a model's files (the module docstring says what is checked). Raises what reading the model
    raises, ``DissectionUnreadable``, or ``ModelProblem`` for a default layer the generator lacks."""
    info = load_model_info(model_id, models_dir)
    with warnings.catch_warnings():  # torch warns about odd pickles before it fails on them
        warnings.simplefilter("ignore")
        g = load_generator(info.generator_path)
    layers = precomputed_layers(precomputed_dir, model_id)
    dissections, problems = {}, []
    for layer in layers:
        path = precomputed_dir / model_id / f"{layer}.json"
        try:
            pre = load_precomputed(path)
        except Exception as exc:  # noqa: BLE001 - any failure to read is one message
            raise DissectionUnreadable(model_id, layer, exc) from exc
        if layer not in g.layer_names:
            problems.append(
                f"dissection {path}: {layer!r} is not a layer of model {model_id!r} ({', '.join(g.layer_names)})"
            )
        elif tuple(pre.feature_shape) != g.feature_shape(layer):
            problems.append(
                f"dissection {path}: feature_shape {list(pre.feature_shape)} does not match the generator's "
                f"{list(g.feature_shape(layer))} at {layer} (a dissection of another model?)"
            )
        else:
            dissections[layer] = pre
    if info.default_layer not in g.layer_names:
        raise ModelProblem(f"model {model_id!r}: default_layer {info.default_layer!r} is not a generator layer")
    return ModelFiles(info, g, dissections, layers, problems)


def device_problem(device: str) -> str | None:
    """Why ``device`` cannot be used here, or None."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        return f"device: {device!r} requested but CUDA is not available"
    return None


class ModelRegistry:
    """The models in ``models_dir`` with their dissections in ``precomputed_dir``, each loaded once (thread-safe)
    onto ``device`` in ``dtype`` as a serving copy."""

    def __init__(
        self, models_dir: str | Path, precomputed_dir: str | Path, device: str = "cpu", dtype: str = "float32"
    ):
        if dtype not in DTYPES:
            raise ValueError(f"dtype: expected one of {', '.join(DTYPES)}, got {dtype!r}")
        problem = device_problem(device)
        if problem:
            raise ValueError(problem)
        self.models_dir = Path(models_dir)
        self.precomputed_dir = Path(precomputed_dir)
        self.device = torch.device(device)
        self.dtype = DTYPES[dtype]
        self._models: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()

    def available(self) -> list[str]:
        return list_model_ids(self.models_dir)

    def loaded(self) -> list[str]:
        return sorted(self._models)

    def has(self, model_id: str) -> bool:
        return (self.models_dir / model_id / "model.json").is_file()

    def model(self, model_id: str) -> LoadedModel:
        """The loaded model (loaded on first use); NotFoundError for an unknown id."""
        if model_id in self._models:
            return self._models[model_id]
        try:
            check_model_id(model_id)
        except ValueError as exc:
            raise NotFoundError(f"unknown model {model_id!r}; available: {', '.join(self.available())}") from exc
        with self._lock:
            if model_id not in self._models:
                if not self.has(model_id):
                    have = ", ".join(self.available()) or "none"
                    raise NotFoundError(f"unknown model {model_id!r}; available: {have}")
                self._models[model_id] = self._serving(read_model(model_id, self.models_dir, self.precomputed_dir))
        return self._models[model_id]

    def _serving(self, files: ModelFiles) -> LoadedModel:
        """The model as served: on the device, in the dtype, folded WScale and channels_last (same images, faster)."""
        g = files.generator.to(self.device)
        if self.dtype != torch.float32:
            g = g.to(self.dtype)
        sha = hashlib.sha256(files.info.generator_path.read_bytes()).hexdigest()
        refiner = load_refiner(files.info.refiner_path)
        return LoadedModel(files.info, serving_copy(g), files.dissections, sha, refiner=refiner)
