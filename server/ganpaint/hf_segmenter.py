"""A Hugging Face ``transformers`` semantic segmenter (SegFormer, UperNet, ... trained on ADE20K) behind
ganpaint's ``Segmenter`` protocol. Optional: ``pip install 'ganpaint[hf]'``.

    seg = load_hf_segmenter("path/to/segformer-b0-finetuned-ade-512-512")       # a local folder
    seg = load_hf_segmenter("nvidia/segformer-b0-finetuned-ade-512-512")        # a hub name (needs internet)
    seg = load_hf_segmenter("path?size=256&batch=8&names=raw", device="cuda")   # options after '?'
    p = seg.probabilities(images)          # (N, 3, H, W) in [-1, 1] -> (N, len(seg.names), H, W)

From the command line: ``ganpaint dissect --checkpoint church.pth --segmenter hf:PATH_OR_NAME[?options]``.

- Class names come from the model's own ``config.id2label``; with ``names=brush`` (the default) they are
  mapped to ganpaint's brush names (``ganpaint.concept_names``: 'windowpane' -> 'window', 'sea' -> 'water')
  and the probabilities of labels sharing a name are summed; ``names=raw`` keeps the labels (normalised).
- Preprocessing follows the folder's ``preprocessor_config.json`` (``image_mean``/``image_std``,
  ``rescale_factor``, ``size``), with the ImageNet defaults where a field is missing: the generator's
  [-1, 1] images become 0..255 pixels, are resized to the segmenter's input size (``size=S`` overrides it;
  ``size=0`` keeps the generator's resolution), rescaled and normalised; the logits are resized back to the
  generator's resolution (bilinear) before the softmax, so probabilities always match the input's H x W.
- Batches: ``probabilities`` runs the network ``batch`` images at a time (default 8) under ``no_grad``;
  ``differentiable_probabilities`` (used by the ACE alpha optimisation) keeps the graph.
- Device: the network sits on ``device`` (``seg.to("cuda")`` or ``seg.net.to(...)`` moves it); inputs are
  moved to it and the answer is returned on the input's device.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

import torch
import torch.nn.functional as F
from torch import nn

from ganpaint.concept_names import ADE20K_TO_BRUSH, merge_table

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
OPTIONS = {"size", "batch", "names"}


@dataclass(frozen=True)
class Preprocess:
    """How [-1, 1] images become the network's ``pixel_values``."""

    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    rescale: float = 1 / 255  # pixels 0..255 are multiplied by this (1.0 when do_rescale is false)
    normalize: bool = True
    size: tuple[int, int] | None = None  # (height, width) the network sees; None: the input's own size
    shortest_edge: int | None = None  # or: scale so the shorter side is this

    @classmethod
    def from_config(cls, cfg: dict) -> Preprocess:
        """From a ``preprocessor_config.json`` dict; missing fields take the ImageNet defaults."""
        size, shortest = None, None
        s = cfg.get("size")
        if isinstance(s, dict) and "height" in s and "width" in s:
            size = (int(s["height"]), int(s["width"]))
        elif isinstance(s, dict) and "shortest_edge" in s:
            shortest = int(s["shortest_edge"])
        elif isinstance(s, int):
            size = (s, s)
        if cfg.get("do_resize") is False:
            size, shortest = None, None
        mean, std = cfg.get("image_mean", IMAGENET_MEAN), cfg.get("image_std", IMAGENET_STD)
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f"preprocessor config: image_mean {mean!r} / image_std {std!r} need 3 values")
        rescale = float(cfg.get("rescale_factor", 1 / 255)) if cfg.get("do_rescale", True) else 1.0
        return cls(
            tuple(map(float, mean)),
            tuple(map(float, std)),
            rescale,
            bool(cfg.get("do_normalize", True)),
            size,
            shortest,
        )

    def target_size(self, h: int, w: int) -> tuple[int, int]:
        if self.size:
            return self.size
        if self.shortest_edge:
            s = self.shortest_edge / min(h, w)
            return round(h * s), round(w * s)
        return h, w

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [-1, 1] -> (N, 3, h, w) pixel_values."""
        x = (images.clamp(-1, 1) + 1) * 127.5  # (N, 3, H, W) pixels 0..255
        h, w = self.target_size(*images.shape[-2:])
        if (h, w) != tuple(images.shape[-2:]):
            down = h < images.shape[-2]
            x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=down)
        x = x * self.rescale
        if self.normalize:
            mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
            std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
            x = (x - mean) / std
        return x


class HFSegmenter:
    """``Segmenter`` over a ``transformers`` semantic-segmentation model (anything with ``.logits``)."""

    def __init__(
        self,
        net: nn.Module,
        labels: list[str],
        id: str,
        preprocess: Preprocess | None = None,
        batch: int = 8,
        table: dict[str, str] | None = ADE20K_TO_BRUSH,
    ):
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.net = net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.labels = list(labels)  # the model's own label table, index = logit channel
        self.names, groups = merge_table(self.labels, table)
        self.id = id
        self.preprocess = preprocess or Preprocess()
        self.batch = batch
        self.size = None  # the adapter resizes itself (causal.soft_probabilities reads this attribute)
        self._groups = torch.tensor(groups)  # (K,) merged index of each label
        self._merge = len(self.names) != len(self.labels)

    def to(self, device) -> HFSegmenter:
        self.net.to(device)
        return self

    @property
    def device(self) -> torch.device:
        p = next(self.net.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [-1, 1] -> (N, K, H, W) logits over the model's own labels, at the input size."""
        dev = self.device
        x = self.preprocess(images.to(dev, torch.float32))  # (N, 3, h, w)
        y = self.net(pixel_values=x).logits  # (N, K, h', w'): SegFormer h/4, UperNet h
        if tuple(y.shape[-2:]) != tuple(images.shape[-2:]):
            y = F.interpolate(y, size=images.shape[-2:], mode="bilinear", align_corners=False)
        return y  # (N, K, H, W)

    def differentiable_probabilities(self, images: torch.Tensor) -> torch.Tensor:
        p = self.logits(images).softmax(dim=1)  # (N, K, H, W)
        if self._merge:
            onehot = F.one_hot(self._groups.to(p.device), len(self.names)).to(p.dtype)  # (K, M)
            p = torch.einsum("nkhw,km->nmhw", p, onehot)  # (N, M, H, W)
        return p.to(images.device)

    @torch.no_grad()
    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [-1, 1] -> (N, len(names), H, W), ``batch`` images per forward."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images: expected (N, 3, H, W), got {tuple(images.shape)}")
        parts = [
            self.differentiable_probabilities(images[a : a + self.batch]) for a in range(0, len(images), self.batch)
        ]
        return torch.cat(parts) if parts else images.new_zeros((0, len(self.names), *images.shape[-2:]))


# ---------------------------------------------------------------------------------------- loading


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """'hf:SOURCE?size=256&batch=8' or 'SOURCE?...' -> (SOURCE, options); unknown options are errors."""
    src = spec[3:] if spec.startswith("hf:") else spec
    src, _, query = src.partition("?")
    opts = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    bad = sorted(set(opts) - OPTIONS)
    if bad:
        raise ValueError(f"segmenter spec {spec!r}: unknown option(s) {bad}; known: {sorted(OPTIONS)}")
    if not src:
        raise ValueError(f"segmenter spec {spec!r}: no folder or hub name before '?'")
    return src, opts


def _weights_digest(folder: Path) -> str:
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            h = hashlib.sha256()
            with open(folder / name, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            return h.hexdigest()[:16]
    return "unknown"


def _preprocessor_dict(source: str, local: bool) -> dict:
    if local:
        path = Path(source) / "preprocessor_config.json"
        return json.loads(path.read_text()) if path.is_file() else {}
    try:  # a hub name: the file may be absent; then the defaults apply
        from huggingface_hub import hf_hub_download

        return json.loads(Path(hf_hub_download(source, "preprocessor_config.json")).read_text())
    except Exception:  # noqa: BLE001 - no such file, or offline with nothing cached
        return {}


def load_hf_segmenter(spec: str, device: str | torch.device = "cpu", batch: int | None = None) -> HFSegmenter:
    """Load ``spec`` = '[hf:]FOLDER_OR_HUB_NAME[?size=S&batch=B&names=brush|raw]' (see the module docstring)."""
    try:
        from transformers import AutoConfig, AutoModelForSemanticSegmentation
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("the Hugging Face segmenter needs transformers: pip install 'ganpaint[hf]'") from exc
    source, opts = parse_spec(spec)
    local = Path(source).is_dir()
    if not local and (source.startswith((".", "/", "~")) or source.count("/") > 1):
        raise FileNotFoundError(f"segmenter folder not found: {source}")
    config = AutoConfig.from_pretrained(source)
    id2label = getattr(config, "id2label", None) or {}
    labels = [str(id2label.get(i, id2label.get(str(i), f"class{i}"))) for i in range(len(id2label))]
    if not labels:
        raise ValueError(f"segmenter {source}: its config has no id2label table")
    net = AutoModelForSemanticSegmentation.from_pretrained(source)
    pre = Preprocess.from_config(_preprocessor_dict(source, local))
    if "size" in opts:
        s = int(opts["size"])
        if s < 0:
            raise ValueError(f"segmenter option size={s}: use 0 (the generator's resolution) or a side in pixels")
        pre = Preprocess(pre.mean, pre.std, pre.rescale, pre.normalize, (s, s) if s else None, None)
    names_opt = opts.get("names", "brush")
    if names_opt not in ("brush", "raw"):
        raise ValueError(f"segmenter option names={names_opt!r}: use 'brush' or 'raw'")
    table = ADE20K_TO_BRUSH if names_opt == "brush" else None
    if local:
        digest = _weights_digest(Path(source))
        where = Path(source).resolve().name
    else:
        digest = str(getattr(config, "_commit_hash", None) or "hub")[:16]
        where = source
    size = (
        f"{pre.size[0]}x{pre.size[1]}" if pre.size else (f"short{pre.shortest_edge}" if pre.shortest_edge else "native")
    )
    seg_id = f"hf:{where}@{digest}/size={size}/names={names_opt}"
    b = batch or int(opts.get("batch", 8))
    return HFSegmenter(net, labels, seg_id, pre, batch=b, table=table).to(device)
