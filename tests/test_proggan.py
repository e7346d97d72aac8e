import numpy as np
import pytest
import torch
from conftest import tiny_generator

from ganpaint.nn.proggan import (
    ProgressiveGenerator,
    generator_from_state_dict,
    image_latents,
    load_generator,
    lsun_channels,
    serving_copy,
)


def test_lsun_256_plan_has_published_parameter_count():
    g = ProgressiveGenerator(lsun_channels(256), 512)
    assert lsun_channels(256) == [512] * 8 + [256, 256, 128, 128, 64, 64]
    assert sum(p.numel() for p in g.parameters()) == 23_036_995
    keys = list(g.state_dict())
    assert keys[:2] == ["layer1.conv.weight", "layer1.wscale.b"]
    assert keys[-2:] == ["output_256x256.conv.weight", "output_256x256.wscale.b"]
    assert len(keys) == 30
    assert tuple(g.state_dict()["layer1.conv.weight"].shape) == (512, 512, 4, 4)
    assert tuple(g.state_dict()["output_256x256.conv.weight"].shape) == (3, 64, 1, 1)


def test_lsun_save_load_gives_identical_output(tmp_path):
    torch.manual_seed(0)
    g = ProgressiveGenerator(lsun_channels(256), 512).eval()
    path = tmp_path / "church.pth"
    torch.save(g.state_dict(), path)
    loaded = load_generator(path)
    assert loaded.resolution == 256 and loaded.z_dim == 512
    z = image_latents([0], 512)
    with torch.no_grad():
        assert torch.equal(g(z), loaded(z))


def test_wrapped_state_dict_loads(tiny_g, tmp_path):
    path = tmp_path / "wrapped.pth"
    torch.save({"state_dict": tiny_g.state_dict()}, path)
    g = load_generator(path)
    z = image_latents([3, 4], tiny_g.z_dim)
    with torch.no_grad():
        assert torch.equal(g(z), tiny_g(z))


def test_renamed_key_is_named_in_error(tiny_g):
    sd = dict(tiny_g.state_dict())
    sd["layer3.wscale.bias"] = sd.pop("layer3.wscale.b")
    with pytest.raises(
        ValueError, match=r"missing keys \['layer3.wscale.b'\], unexpected keys \['layer3.wscale.bias'\]"
    ):
        generator_from_state_dict(sd)


def test_changed_shape_is_named_in_error(tiny_g):
    sd = dict(tiny_g.state_dict())
    sd["layer5.wscale.b"] = torch.zeros(7)
    with pytest.raises(ValueError, match=r"shape mismatch for key 'layer5.wscale.b'"):
        generator_from_state_dict(sd)


def test_not_a_generator_file_is_rejected(tmp_path):
    path = tmp_path / "junk.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot read generator weights"):
        load_generator(path)
    with pytest.raises(ValueError, match="not a ProGAN generator state dict"):
        generator_from_state_dict({"fc.weight": torch.zeros(2)})


def test_architecture_follows_state_dict():
    g = ProgressiveGenerator([32, 32, 24, 24, 16, 16, 8, 8, 4, 4], 12)
    h = generator_from_state_dict(g.state_dict())
    assert h.channels == g.channels and h.z_dim == 12 and h.resolution == 64
    assert "output_64x64.conv.weight" in h.state_dict()
    # nearest 2x upsampling sits in odd layers from layer3
    assert [n for n, m in h.named_modules() if n.endswith(".up")] == [
        "layer3.up",
        "layer5.up",
        "layer7.up",
        "layer9.up",
    ]
    assert h(image_latents([0], 12)).shape == (1, 3, 64, 64)
    # the weight scale is a constant, not a parameter
    assert not any("scale" in k and not k.endswith("wscale.b") for k in h.state_dict())


def test_latent_row_does_not_depend_on_n():
    one = image_latents([0], 512)[0]
    many = image_latents(list(range(100)), 512)
    expected = np.random.RandomState(1).standard_normal((100, 512)).astype(np.float32)
    assert torch.equal(one, many[0])
    assert np.array_equal(many.numpy(), expected)
    assert np.array_equal(image_latents([57], 512).numpy()[0], expected[57])


def test_latent_id_out_of_range():
    with pytest.raises(ValueError, match="image id -1 out of range"):
        image_latents([-1], 8)


def test_split_recomposes(tiny_g):
    z = image_latents([0, 1], tiny_g.z_dim)
    for layer in tiny_g.layer_names:
        h, f = tiny_g.split(layer)
        with torch.no_grad():
            r = h(z)
            assert tuple(r.shape[1:]) == tiny_g.feature_shape(layer)
            assert torch.equal(f(r), tiny_g(z))


def test_serving_copy_gives_the_same_images_and_keeps_layer_names():
    g = tiny_generator(3)
    fast = serving_copy(g)
    z = image_latents(list(range(4)), g.z_dim)
    with torch.no_grad():
        assert torch.allclose(fast(z), g(z), atol=1e-4)
        h, f = fast.split("layer4")
        assert torch.allclose(f(h(z)), g(z), atol=1e-4)
    assert [n for n, _ in fast.named_children()] == [n for n, _ in g.named_children()]
    assert "layer1.wscale.b" in g.state_dict()  # the original is untouched
    assert fast.feature_shape("layer6") == g.feature_shape("layer6") and fast.z_dim == g.z_dim
