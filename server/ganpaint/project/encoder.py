"""An encoder trained against a generator: picture -> projection-layer features, the projection's initial guess.

    ganpaint train encoder --model scenes64 --minutes 30            # resumable: run it again to continue
    enc = load_encoder(models/scenes64/encoder.pth)                 # None if there is none
    Projector(g, "layer6", settings, encoder=enc)

Six convolutions (three stride-2) from the picture to the projection layer's (C, h, w); trained on the
generator's own samples (z ~ N(0, 1)): relative feature MSE against h(z) plus the pixel MSE of the rest of the
generator applied to the prediction. The file holds the weights (fp16), the projection and painting layers,
the resolution, the steps trained and the last losses; the checkpoint (``--run``) also holds Adam's state.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganpaint.project.projector import Projector, layer_chain

VERSION = 1


class Encoder(nn.Module):
    def __init__(self, out_channels: int, width: int = 128, downsamples: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, width // 4, 3, 1, 1), nn.LeakyReLU(0.2)]
        ch = width // 4
        for _ in range(downsamples):
            nxt = min(width, ch * 2)
            layers += [nn.Conv2d(ch, nxt, 4, 2, 1), nn.LeakyReLU(0.2)]
            ch = nxt
        layers += [nn.Conv2d(ch, width, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(width, out_channels, 3, 1, 1)]
        self.net = nn.Sequential(*layers)
        self.config = {"out_channels": out_channels, "width": width, "downsamples": downsamples}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (N, 3, R, R) -> (N, C, R / 2^d, R / 2^d)


def load_encoder(path: str | Path, projector: Projector | None = None) -> Encoder | None:
    """The encoder in ``path`` (None if the file does not exist); ValueError if it does not fit ``projector``."""
    path = Path(path)
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    enc = Encoder(**state["config"])
    enc.load_state_dict({k: v.float() for k, v in state["state_dict"].items()})
    if projector is not None:
        want = (projector.project_layer, projector.paint_layer)
        if (state["project_layer"], state["paint_layer"]) != want:
            raise ValueError(
                f"encoder {path}: trained for {state['project_layer']}/{state['paint_layer']}, the projector uses "
                f"{want[0]}/{want[1]}"
            )
    enc.meta = {k: state[k] for k in ("project_layer", "paint_layer", "resolution", "steps", "losses")}
    return enc.eval().requires_grad_(False).to(projector.device if projector is not None else "cpu")


def train_encoder(
    g: nn.Module,
    paint_layer: str,
    out: Path,
    run: Path,
    minutes: float = 30.0,
    batch: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Train (or continue training from ``run``) for ``minutes`` of wall time; write ``out``; return its numbers."""
    from tqdm import tqdm

    projector = Projector(g, paint_layer)
    head = layer_chain(g, None, projector.project_layer)
    rest = layer_chain(g, projector.project_layer, None)
    c = g.feature_shape(projector.project_layer)[0]
    enc = Encoder(c)
    opt = torch.optim.Adam(enc.parameters(), lr=lr)
    step, losses = 0, []
    gen = torch.Generator().manual_seed(seed)
    if run.is_file():
        ck = torch.load(run, map_location="cpu", weights_only=False)
        enc.load_state_dict(ck["state_dict"])
        opt.load_state_dict(ck["opt"])
        step, losses = ck["step"], ck["losses"]
        gen.set_state(ck["rng"])
    deadline = time.monotonic() + minutes * 60
    bar = tqdm(desc="encoder", unit="step", initial=step, disable=not progress)
    last_save = time.monotonic()

    def save_run() -> None:
        run.parent.mkdir(parents=True, exist_ok=True)
        tmp = run.with_suffix(".tmp")
        torch.save({"state_dict": enc.state_dict(), "opt": opt.state_dict(), "step": step, "losses": losses,
                    "rng": gen.get_state()}, tmp)  # fmt: skip
        tmp.replace(run)

    while time.monotonic() < deadline:
        with torch.no_grad():
            z = torch.randn(batch, g.z_dim, generator=gen)
            target = head(z[:, :, None, None])  # (B, C, h, w)
            x = rest(target).clamp(-1, 1)  # (B, 3, R, R)
        f = enc(x)
        loss_f = F.mse_loss(f, target) / target.pow(2).mean()
        loss_x = F.mse_loss(rest(f), x)
        opt.zero_grad(set_to_none=True)
        (loss_f + loss_x).backward()
        opt.step()
        step += 1
        losses = (losses + [[step, round(loss_f.item(), 5), round(loss_x.item(), 5)]])[-20:]
        bar.update(1)
        bar.set_postfix(feature=f"{loss_f.item():.3f}", pixel=f"{loss_x.item():.4f}")
        if time.monotonic() - last_save > 60:
            save_run()
            last_save = time.monotonic()
    bar.close()
    save_run()
    out.parent.mkdir(parents=True, exist_ok=True)
    numbers = {"project_layer": projector.project_layer, "paint_layer": paint_layer,
               "resolution": int(g.resolution), "steps": step, "losses": losses[-5:]}  # fmt: skip
    state = {"version": VERSION, "config": enc.config, **numbers}
    state["state_dict"] = {k: v.half() for k, v in enc.state_dict().items()}
    torch.save(state, out)
    return numbers


ENCODER_FILE = "encoder.pth"
WITH_ENCODER = {"feature_steps": 100}  # the encoder's start needs fewer feature steps (docs/projection.md)


def projector_for(g: nn.Module, paint_layer: str, model_dir: str | Path | None, settings=None) -> Projector:
    """The shipped recipe: the model folder's encoder as the start (and 100 feature steps) when it has one and
    it fits this painting layer; else the sample bank. ``settings`` overrides the defaults."""
    import dataclasses

    from ganpaint.project.projector import ProjectSettings

    base = settings or ProjectSettings()
    bank = Projector(g, paint_layer, base)
    path = Path(model_dir) / ENCODER_FILE if model_dir is not None else None
    if path is None or not path.is_file():
        return bank
    try:
        enc = load_encoder(path, bank)
    except ValueError:  # trained for another painting layer: the bank serves this one
        return bank
    tuned = dataclasses.replace(base, **WITH_ENCODER) if settings is None else base
    return Projector(g, paint_layer, tuned, encoder=enc)
