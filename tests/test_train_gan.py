import math

import numpy as np
import torch

from ganpaint.nn.proggan import generator_from_state_dict
from ganpaint.train.gan import GanConfig, Trainer, export_generator, train


def tiny_config(**kw) -> GanConfig:
    base = dict(
        resolution=32,
        z_dim=8,
        g_channels=[8, 8, 8, 4],
        batch=4,
        kimg_first=0.008,
        kimg_fade=[0.008, 0.008, 0.008],
        kimg_stable=[0.008, 0.008],
        r1_every=2,
    )
    return GanConfig(**{**base, **kw})


def fake_images(n=16, size=32):
    return np.random.default_rng(0).integers(0, 255, (n, size, size, 3), dtype=np.uint8)


def test_schedule_grows_with_fade_in():
    cfg = GanConfig()
    assert cfg.phase(0) == (4, 1.0)
    res, alpha = cfg.phase(cfg.kimg_first + cfg.kimg_fade[0] / 2)
    assert res == 8 and alpha == 0.5
    assert cfg.phase(10_000) == (64, 1.0)
    assert cfg.phase_start_kimg(8) == cfg.kimg_first


def test_training_steps_have_finite_loss_through_every_resolution(tmp_path):
    trainer = Trainer(tiny_config(), tmp_path / "run", fake_images())
    seen = set()
    for _ in range(30):
        stats = trainer.train_step()
        seen.add(stats["res"])
        assert math.isfinite(stats["d_loss"]) and math.isfinite(stats["g_loss"])
    assert seen == {4, 8, 16, 32}


def test_both_networks_train_every_step(tmp_path):
    trainer = Trainer(tiny_config(), tmp_path / "run", fake_images())
    for _ in range(3):
        g0 = [p.detach().clone() for p in trainer.G.parameters()]
        d0 = [p.detach().clone() for p in trainer.D.parameters()]
        trainer.train_step()
        # D is frozen only inside the G step: afterwards it trains again, and both moved
        assert all(p.requires_grad for p in trainer.D.parameters())
        assert any(not torch.equal(a, b) for a, b in zip(g0, trainer.G.parameters(), strict=True))
        assert any(not torch.equal(a, b) for a, b in zip(d0, trainer.D.parameters(), strict=True))


def test_resume_continues_from_saved_step(tmp_path):
    run = tmp_path / "run"
    trainer = Trainer(tiny_config(), run, fake_images())
    train(trainer, max_kimg=0.02, checkpoint_minutes=1e9, progress=False, log_every=1)
    assert trainer.imgs_seen == 20 and (run / "checkpoint.pt").is_file() and (run / "log.jsonl").is_file()
    assert list((run / "samples").glob("*.png"))
    resumed = Trainer.resume(run, fake_images())
    assert resumed.step == trainer.step and resumed.imgs_seen == 20
    for a, b in zip(resumed.G.parameters(), trainer.G.parameters(), strict=True):
        assert torch.equal(a, b)
    # the same next step from both: identical RNG state and weights
    sa, sb = trainer.train_step(), resumed.train_step()
    assert sa == sb
    train(resumed, max_kimg=0.04, checkpoint_minutes=1e9, progress=False)
    assert resumed.imgs_seen == 40


def test_export_loads_through_published_loader_with_same_images(tmp_path):
    trainer = Trainer(tiny_config(), tmp_path / "run", fake_images())
    for _ in range(3):
        trainer.train_step()
    g = generator_from_state_dict(export_generator(trainer))
    z = torch.randn(3, 8)
    with torch.no_grad():
        assert torch.allclose(g(z), trainer.G_ema(z, 32), atol=1e-4)  # channels_last vs contiguous rounding
    assert "output_32x32.conv.weight" in g.state_dict()


def test_packed_state_resumes_with_fp16_weights(tmp_path):
    from ganpaint.train.gan import pack_state

    trainer = Trainer(tiny_config(), tmp_path / "run", fake_images())
    for _ in range(3):
        trainer.train_step()
    packed_dir = tmp_path / "packed"
    packed_dir.mkdir()
    torch.save(pack_state(trainer), packed_dir / "checkpoint.pt")
    resumed = Trainer.resume(packed_dir, fake_images())
    assert resumed.imgs_seen == trainer.imgs_seen and resumed.step == trainer.step
    for a, b in zip(resumed.G_ema.parameters(), trainer.G_ema.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-2, rtol=1e-3)
    assert math.isfinite(resumed.train_step()["d_loss"])
