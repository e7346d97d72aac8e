"""Scoped forward hooks on named layers: every edit and trace ends with its ``with`` block.

    with edit_layer(g, "layer4", lambda r: r * 0):   # ablate all of layer4
        x = g(z)
    with trace_layer(g, "layer4") as t:
        g(z)
    t.output                                         # (N, C, h, w) feature map

Hooks are removed in ``finally``, so an exception inside the block cannot leave an edit behind. An edit
applies only to forward passes on the thread that entered its block: two threads may run one model at once
(the engine's two render threads), each with its own edits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn


def get_module(model: nn.Module, name: str) -> nn.Module:
    """The submodule with dotted ``name``; KeyError naming the layer if there is none."""
    modules = dict(model.named_modules())
    if name not in modules or not name:
        layers = [n for n, _ in model.named_children()]
        raise KeyError(f"unknown layer {name!r}; available: {', '.join(layers)}")
    return modules[name]


@contextmanager
def edit_layer(model: nn.Module, layer: str, fn: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[None]:
    """Replace ``layer``'s output r by ``fn(r)`` for forward passes inside the block, on this thread."""
    owner = threading.get_ident()

    def hook(_m: nn.Module, _i: tuple, out: torch.Tensor) -> torch.Tensor | None:
        return fn(out) if threading.get_ident() == owner else None  # None: the output stays as it is

    handle = get_module(model, layer).register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@contextmanager
def before_each_child(model: nn.Module, fn: Callable[[], None]) -> Iterator[None]:
    """Call ``fn()`` before each of ``model``'s children runs, in forward passes inside the block on this
    thread (a background render's checkpoints between layers)."""
    owner = threading.get_ident()

    def hook(_m: nn.Module, _i: tuple) -> None:
        if threading.get_ident() == owner:
            fn()

    handles = [child.register_forward_pre_hook(hook) for child in model.children()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@dataclass
class Traced:
    output: torch.Tensor | None = None


class _StopForward(Exception):
    pass


@contextmanager
def trace_layer(model: nn.Module, layer: str, stop: bool = False) -> Iterator[Traced]:
    """Record ``layer``'s output in ``traced.output``; with ``stop=True`` the forward pass ends there."""
    traced = Traced()

    def hook(_m: nn.Module, _i: tuple, out: torch.Tensor) -> None:
        traced.output = out
        if stop:
            raise _StopForward

    handle = get_module(model, layer).register_forward_hook(hook)
    try:
        yield traced
    except _StopForward:
        pass
    finally:
        handle.remove()
