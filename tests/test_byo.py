"""Bring your own GAN: the Hugging Face segmenter adapter on tiny random models saved to tmp folders, the
concept-name mapping, and a published-layout checkpoint taken from .pth to dissection to a paint request.
Nothing is downloaded: the SegFormer / UperNet are built from small configs and ``save_pretrained``."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import tiny_generator

from ganpaint.checkpoints import model_id_from_checkpoint, prepare_serve, register_checkpoint
from ganpaint.concept_names import brush_name, merge_table, normalise_label

transformers = pytest.importorskip("transformers")

# ADE-style labels: 'house' merges into 'building', 'windowpane' becomes 'window', 'plant' keeps its name
LABELS = ["wall", "building", "sky", "tree", "windowpane", "house", "plant"]
BRUSH_NAMES = ["wall", "building", "sky", "tree", "window", "plant"]


def save_segformer(folder, size=64, mean=None, std=None, seed=0):
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    torch.manual_seed(seed)
    cfg = SegformerConfig(
        num_encoder_blocks=2,
        depths=[1, 1],
        sr_ratios=[2, 1],
        hidden_sizes=[8, 16],
        patch_sizes=[7, 3],
        strides=[4, 2],
        num_attention_heads=[1, 1],
        mlp_ratios=[2, 2],
        decoder_hidden_size=16,
        id2label=dict(enumerate(LABELS)),
        label2id={n: i for i, n in enumerate(LABELS)},
    )
    SegformerForSemanticSegmentation(cfg).eval().save_pretrained(folder)
    kw = {"size": {"height": size, "width": size}}
    if mean:
        kw.update(image_mean=mean, image_std=std)
    SegformerImageProcessor(**kw).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def segformer_dir(tmp_path_factory):
    return save_segformer(tmp_path_factory.mktemp("segformer"))


def images(n=3, side=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, 3, side, side), generator=g) * 2 - 1  # (N, 3, H, W) in [-1, 1]


# ---------------------------------------------------------------------------------------- names


def test_concept_names_map_ade_labels_to_brushes():
    assert brush_name("windowpane") == "window"
    assert brush_name("windowpane;window") == "window"  # CSAIL objectInfo150 style
    assert brush_name("Sea") == "water" and brush_name("river") == "water"
    assert brush_name("house") == "building" and brush_name("road") == "earth"
    assert brush_name("bed ") == "bed"  # unmapped labels keep their (normalised) name
    assert normalise_label("chest of drawers, chest, bureau") == "chest of drawers"
    names, groups = merge_table(LABELS)
    assert names == BRUSH_NAMES and groups == [0, 1, 2, 3, 4, 1, 5]
    assert merge_table(LABELS, None)[0] == ["wall", "building", "sky", "tree", "windowpane", "house", "plant"]
    # brushes ADE20K does not know (cloud, brick, roof, dome) are simply absent
    from ganpaint.concept_names import ADE20K_TO_BRUSH

    assert not {"cloud", "brick", "roof", "dome"} & set(ADE20K_TO_BRUSH.values())


# ---------------------------------------------------------------------------------------- adapter


def test_adapter_shapes_names_resize_and_sums(segformer_dir):
    from ganpaint.segment import Segmenter, load_segmenter

    seg = load_segmenter(f"hf:{segformer_dir}")
    assert isinstance(seg, Segmenter)
    assert seg.labels == LABELS and seg.names == BRUSH_NAMES
    assert seg.preprocess.size == (64, 64)  # from preprocessor_config.json
    assert seg.id.startswith(f"hf:{segformer_dir.name}@") and "size=64x64" in seg.id
    x = images(3, 32)
    p = seg.probabilities(x)
    assert p.shape == (3, len(BRUSH_NAMES), 32, 32)  # back at the generator's resolution
    assert torch.allclose(p.sum(1), torch.ones(3, 32, 32), atol=1e-5)
    # merged class = the sum of its labels' probabilities
    raw = seg.logits(x).softmax(1)  # (N, K, H, W)
    assert raw.shape == (3, len(LABELS), 32, 32)
    assert torch.allclose(p[:, 1], raw[:, 1] + raw[:, 5], atol=1e-6)
    assert seg.probabilities(x).argmax(dim=1).shape == (3, 32, 32)
    # a larger generator: downsampled to 64 for the network, answered at 96
    assert seg.probabilities(images(2, 96)).shape == (2, len(BRUSH_NAMES), 96, 96)


def test_adapter_batching_is_invisible(segformer_dir):
    from ganpaint.hf_segmenter import load_hf_segmenter

    x = images(5, 32, seed=1)
    one = load_hf_segmenter(f"hf:{segformer_dir}?batch=1").probabilities(x)
    many = load_hf_segmenter(str(segformer_dir), batch=4).probabilities(x)
    assert torch.allclose(one, many, atol=1e-5)
    assert load_hf_segmenter(str(segformer_dir)).probabilities(x[:0]).shape == (0, len(BRUSH_NAMES), 32, 32)


def test_adapter_options_and_preprocessing(tmp_path, segformer_dir):
    from ganpaint.hf_segmenter import Preprocess, load_hf_segmenter

    native = load_hf_segmenter(f"hf:{segformer_dir}?size=0&names=raw")
    assert native.preprocess.size is None and native.names == LABELS and "size=native" in native.id
    assert load_hf_segmenter(f"hf:{segformer_dir}?size=48").preprocess.size == (48, 48)
    with pytest.raises(ValueError, match="unknown option"):
        load_hf_segmenter(f"hf:{segformer_dir}?sise=48")
    with pytest.raises(ValueError, match="names="):
        load_hf_segmenter(f"hf:{segformer_dir}?names=odd")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_hf_segmenter(f"hf:{tmp_path / 'missing'}")
    # mean/std come from the folder's preprocessor config; pixel values follow the HF recipe
    folder = save_segformer(tmp_path / "custom", size=32, mean=[0.5, 0.5, 0.5], std=[0.25, 0.5, 1.0])
    seg = load_hf_segmenter(str(folder))
    assert seg.preprocess.mean == (0.5, 0.5, 0.5) and seg.preprocess.std == (0.25, 0.5, 1.0)
    x = images(1, 32)
    expect = ((x + 1) * 127.5 / 255 - 0.5) / torch.tensor([0.25, 0.5, 1.0]).view(1, 3, 1, 1)
    assert torch.allclose(seg.preprocess(x), expect, atol=1e-5)
    # no preprocessor config at all: ImageNet defaults, no resize
    assert Preprocess.from_config({}).mean == (0.485, 0.456, 0.406) and Preprocess.from_config({}).size is None
    # the 2021 hub configs (feature-extractor era) give the size as an int
    assert Preprocess.from_config({"size": 512, "reduce_labels": True}).size == (512, 512)
    assert Preprocess.from_config({"size": {"shortest_edge": 64}}).target_size(32, 48) == (64, 96)


def test_adapter_is_differentiable_for_ace(segformer_dir):
    from ganpaint.dissect.causal import soft_probabilities
    from ganpaint.hf_segmenter import load_hf_segmenter

    seg = load_hf_segmenter(str(segformer_dir))
    x = images(2, 32).requires_grad_(True)
    p = soft_probabilities(seg, x)  # what the ACE alpha optimisation calls
    p[:, BRUSH_NAMES.index("window")].mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(not q.requires_grad for q in seg.net.parameters())  # frozen network


def test_upernet_with_a_tiny_convnext_backbone(tmp_path):
    """UperNet (the other ADE20K family on the hub) through the same adapter; its logits come at full size."""
    from transformers import ConvNextConfig, UperNetConfig, UperNetForSemanticSegmentation

    from ganpaint.hf_segmenter import load_hf_segmenter

    torch.manual_seed(0)
    backbone = ConvNextConfig(
        num_stages=4,
        hidden_sizes=[8, 8, 16, 16],
        depths=[1, 1, 1, 1],
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    cfg = UperNetConfig(
        backbone_config=backbone,
        hidden_size=16,
        auxiliary_in_channels=16,
        auxiliary_channels=8,
        pool_scales=[1, 2],
        use_auxiliary_head=False,
        id2label=dict(enumerate(LABELS)),
        label2id={n: i for i, n in enumerate(LABELS)},
    )
    UperNetForSemanticSegmentation(cfg).eval().save_pretrained(tmp_path / "upernet")
    seg = load_hf_segmenter(f"hf:{tmp_path / 'upernet'}?size=64")
    assert seg.names == BRUSH_NAMES
    p = seg.probabilities(images(2, 32))
    assert p.shape == (2, len(BRUSH_NAMES), 32, 32)
    assert torch.allclose(p.sum(1), torch.ones(2, 32, 32), atol=1e-5)


# ---------------------------------------------------------------------------------------- checkpoint -> paint


def test_model_id_and_registration(tmp_path):
    assert model_id_from_checkpoint("dl/churchoutdoor_lsun.pth") == "churchoutdoor_lsun"
    assert model_id_from_checkpoint("proggan_churchoutdoor-7e701dd5.pth") == "proggan_churchoutdoor-7e701dd5"
    assert model_id_from_checkpoint("/x/my church (v2).pt") == "my-church-v2-"
    with pytest.raises(ValueError, match="model id"):
        model_id_from_checkpoint("....pth")
    pth = tmp_path / "mine.pth"
    torch.save(tiny_generator().state_dict(), pth)
    folder = register_checkpoint(pth, "mine", tmp_path / "models", tmp_path / "pre")
    meta = json.loads((folder / "model.json").read_text())
    assert meta["generator"] == str(pth.resolve()) and meta["resolution"] == 32 and meta["z_dim"] == 16
    assert meta["default_layer"] == "layer4"
    other = tmp_path / "other.pth"
    torch.save(tiny_generator(seed=1).state_dict(), other)
    with pytest.raises(ValueError, match="already names other weights"):
        register_checkpoint(other, "mine", tmp_path / "models", tmp_path / "pre")
    mid, warning = prepare_serve(pth, None, tmp_path / "models", tmp_path / "pre")
    assert mid == "mine" and "no dissection" in warning


def test_checkpoint_dissected_with_hf_segmenter_then_served(tmp_path, segformer_dir, capsys):
    from fastapi.testclient import TestClient

    from ganpaint.api.app import create_app
    from ganpaint.api.settings import Settings
    from ganpaint.cli import main
    from ganpaint.precomputed import load_precomputed

    pth = tmp_path / "weights" / "tiny_church.pth"
    pth.parent.mkdir()
    torch.save(tiny_generator().state_dict(), pth)  # the published key layout (layerN.conv.weight, ...)
    models, pre = tmp_path / "models", tmp_path / "precomputed"
    main(
        [
            "dissect",
            "--checkpoint",
            str(pth),
            "--segmenter",
            f"hf:{segformer_dir}?size=32",
            "--layer",
            "layer4",
            "--samples",
            "16",
            "--heldout",
            "8",
            "--insertion",
            "4",
            "--context",
            "4",
            "--curve",
            "4",
            "--alpha-steps",
            "2",
            "--batch",
            "8",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--out-dir",
            str(pre),
            "--models-dir",
            str(models),
            "--threads",
            "1",
            "--no-progress",
        ]
    )
    assert "serve it: ganpaint serve --checkpoint" in capsys.readouterr().out
    doc = load_precomputed(pre / "tiny_church" / "layer4.json")  # validates the schema
    assert doc.model_id == "tiny_church" and doc.raw["class_names"] == BRUSH_NAMES
    assert doc.raw["segmenter"].startswith("hf:") and doc.concepts
    assert set(doc.concepts) <= set(BRUSH_NAMES)
    assert (pre / "tiny_church" / "summary.json").is_file() and (
        pre / "tiny_church" / "report" / "index.html"
    ).is_file()
    meta = json.loads((models / "tiny_church" / "model.json").read_text())
    assert meta["generator"] == str(pth.resolve()) and meta["default_layer"] == "layer4"
    # ganpaint serve --checkpoint resolves to the same model (and finds the dissection: no warning)
    assert prepare_serve(pth, None, models, pre) == ("tiny_church", None)

    concept = sorted(doc.concepts)[0]
    settings = Settings(models_dir=models, precomputed_dir=pre, model="tiny_church", threads=1)
    with TestClient(create_app(settings)) as client:
        r = client.get("/models/tiny_church")
        assert r.status_code == 200, r.text
        info = r.json()
        assert info["resolution"] == 32 and concept in [c["name"] for c in info["concepts"]]
        stroke = {"concept": concept, "mode": "draw", "strength": 4, "mask": {"points": [[0.3, 0.3]], "radius": 0.3}}
        r = client.post("/intervene", json={"image": 2, "strokes": [stroke]}, headers={"accept": "image/png"})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "image/png" and r.content[:8] == b"\x89PNG\r\n\x1a\n"
