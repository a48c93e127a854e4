"""Post-hoc EMA (Karras et al. 2024, EDM2): the power-function EMA update, the least-squares reconstruction, the
snapshot schedule under resume, and the command through the real app (lightning_r1/posthoc_ema.py,
lightning_r1/callbacks/posthoc_ema.py)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from conftest import TOY, compose_config
from lightning_r1.app import train
from lightning_r1.ema import update_ema
from lightning_r1.errors import ConfigError
from lightning_r1.posthoc_ema import (
    Snapshot,
    gamma_to_sigma_rel,
    power_beta,
    profile_inner,
    reconstruct,
    sigma_rel_list,
    sigma_rel_to_gamma,
    write_posthoc_checkpoints,
)

POSTHOC = ["gan.posthoc_ema.sigma_rels=[0.05,0.10]", "gan.posthoc_ema.snapshot_every=4", "metrics=none"]


def scalar_module(value: float = 0.0) -> nn.Module:
    """A "network" whose only weight is one float64 scalar."""
    net = nn.Linear(1, 1, bias=False).double()
    with torch.no_grad():
        net.weight.fill_(value)
    return net


# ---- the math ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sigma_rel", [0.02, 0.05, 0.10, 0.20])
def test_sigma_rel_is_the_profiles_relative_std(sigma_rel: float) -> None:
    """γ from σ_rel, checked against the standard deviation of τ ~ (γ+1)τ^γ on [0, 1] by its moments."""
    gamma = sigma_rel_to_gamma(sigma_rel)
    mean = (gamma + 1) / (gamma + 2)
    second = (gamma + 1) / (gamma + 3)
    assert math.sqrt(second - mean**2) == pytest.approx(sigma_rel, rel=1e-12)
    assert gamma_to_sigma_rel(gamma) == pytest.approx(sigma_rel, rel=1e-12)


def test_profile_inner_products_against_quadrature() -> None:
    """⟨p_a, p_b⟩ in closed form equals a fine midpoint-rule integral of the two profiles' product."""
    for t_a, g_a, t_b, g_b in [(100, 6.94, 60, 16.97), (40, 2.0, 40, 6.94), (30, 16.97, 90, 1.5)]:
        n = 2_000_000
        tau = (np.arange(n) + 0.5) * (min(t_a, t_b) / n)
        p_a = (g_a + 1) * tau**g_a / t_a ** (g_a + 1)
        p_b = (g_b + 1) * tau**g_b / t_b ** (g_b + 1)
        numeric = float(np.sum(p_a * p_b) * min(t_a, t_b) / n)
        assert float(profile_inner(t_a, g_a, t_b, g_b)) == pytest.approx(numeric, rel=1e-6)


def test_power_function_ema_update_matches_a_hand_computation() -> None:
    """Scalar weights θ_1..θ_T (float64): after T updates the EMA is Σ_k w_k θ_k with
    w_k = (k^(γ+1) − (k−1)^(γ+1)) / T^(γ+1), the profile integrated over each iteration (EDM2 Eq. 127 unrolled)."""
    thetas = [0.3, -1.2, 2.5, 0.7, 0.7, 4.0, -0.5, 1.1]
    gamma = sigma_rel_to_gamma(0.10)
    generator, ema = scalar_module(), scalar_module(123.0)  # the first update (β_1 = 0) overwrites the start
    for t, theta in enumerate(thetas, start=1):
        with torch.no_grad():
            generator.weight.fill_(theta)
        update_ema(ema, generator, power_beta(gamma, t))
    big_t = len(thetas)
    by_hand = sum(
        (k ** (gamma + 1) - (k - 1) ** (gamma + 1)) / big_t ** (gamma + 1) * theta
        for k, theta in enumerate(thetas, start=1)
    )
    assert float(ema.weight) == pytest.approx(by_hand, rel=1e-12, abs=1e-14)
    assert power_beta(gamma, 1) == 0.0


def test_reconstruction_of_tracked_and_untracked_sigma_rels() -> None:
    """A synthetic float64 trajectory (drift + wiggle + noise, 400 iterations), EMAs of σ_rel 0.05 and 0.10
    snapshotted every 10 iterations; other σ_rel tracked directly as references. A tracked σ_rel comes back to
    1e-12; untracked ones within the tracked range to 1e-4 (the weights are O(1)), 0.15 to 1e-4 as well."""
    rng = np.random.default_rng(0)
    steps = np.arange(1, 401)
    trajectory = np.stack([np.sin(steps / 60) + 0.3 * np.cos(steps / 17), np.log(steps)], axis=1)
    trajectory += 0.05 * rng.standard_normal(trajectory.shape)
    tracked, references = [0.05, 0.10], [0.05, 0.10, 0.07, 0.08, 0.15]
    generator = nn.Linear(2, 1, bias=False).double()
    emas = [nn.Linear(2, 1, bias=False).double() for _ in references]
    snapshots = []
    for t, theta in zip(steps, trajectory, strict=True):
        with torch.no_grad():
            generator.weight.copy_(torch.from_numpy(theta)[None])
        for ema, sigma in zip(emas, references, strict=True):
            update_ema(ema, generator, power_beta(sigma_rel_to_gamma(sigma), int(t)))
        if t % 10 == 0:
            params = [{"weight": ema.weight.detach().clone()} for ema in emas[: len(tracked)]]
            snapshots.append(Snapshot(int(t), int(t), tracked, params, {}))
    for sigma, ema, tolerance in zip(references, emas, [1e-12, 1e-12, 1e-4, 1e-4, 1e-4], strict=True):
        weights, coefficients = reconstruct(snapshots, sigma)
        assert coefficients.shape == (40, 2) and coefficients.sum() == pytest.approx(1.0)
        error = float((weights["weight"] - ema.weight).abs().max())
        assert error < tolerance, (sigma, error)
    # sanity: the EMAs differ by far more than the tolerance, so the check can fail
    assert float((emas[2].weight - emas[4].weight).abs().max()) > 1e-2


# ---- through the app ---------------------------------------------------------------------------------------------
def snapshot_files(run_dir: Path) -> dict[str, dict]:
    folder = run_dir / "checkpoints" / "posthoc"
    return {p.name: torch.load(p, weights_only=True) for p in sorted(folder.glob("*"))}


def callback_state(run_dir: Path) -> dict:
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    (key,) = [k for k in state["callbacks"] if "PosthocEMA" in k]
    return state["callbacks"][key]


def test_snapshot_schedule_and_averages_survive_a_resume_in_place(tmp_path: Path) -> None:
    """Stopped at iteration 10 (off the snapshot grid of 4) and resumed in place to 20: the same snapshot files,
    bit for bit, and the same averages in last.ckpt as one uninterrupted run."""
    common = [
        *TOY,
        *POSTHOC,
        "gan.d_steps=2",
    ]  # two batches per iteration: the EMAs move once, after G's step
    train(compose_config([*common, "iterations=20"], tmp_path / "full"))
    part = tmp_path / "part"
    train(compose_config([*common, "iterations=10"], part))
    assert sorted(snapshot_files(part)) == ["iter_4.pt", "iter_8.pt"]
    train(compose_config([*common, "iterations=20", f"ckpt_path={part / 'checkpoints' / 'last.ckpt'}"], part))
    full, resumed = snapshot_files(tmp_path / "full"), snapshot_files(part)
    assert (
        sorted(full)
        == sorted(resumed)
        == ["iter_12.pt", "iter_16.pt", "iter_20.pt", "iter_4.pt", "iter_8.pt"]
    )
    for name, snap in full.items():
        assert snap["iteration"] == int(name[5:-3]) and snap["sigma_rels"] == [0.05, 0.10]
        for ours, theirs in zip(snap["params"], resumed[name]["params"], strict=True):
            for key in ours:
                assert torch.equal(ours[key], theirs[key]), (name, key)
    a, b = callback_state(tmp_path / "full"), callback_state(part)
    assert a["iteration"] == b["iteration"] == 20
    for ema_a, ema_b in zip(a["emas"], b["emas"], strict=True):
        for key in ema_a:
            assert torch.equal(ema_a[key], ema_b[key]), key
    # the averages are the snapshots' (and differ from each other and from the half-life EMA)
    last = full["iter_20.pt"]["params"]
    assert all(torch.equal(last[i][k], a["emas"][i][k]) for i in range(2) for k in last[i])
    assert not torch.equal(last[0]["net.0.weight"], last[1]["net.0.weight"])


def test_default_run_has_no_posthoc_ema_and_tracking_changes_no_training_number(tmp_path: Path) -> None:
    """gan.posthoc_ema.sigma_rels=[] (the default): no callback state, no snapshot folder; with it on, the trained
    weights (G, D, the half-life EMA) are bitwise those of the run without it."""
    train(compose_config([*TOY, "metrics=none", "iterations=8"], tmp_path / "run"))
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert not [k for k in state["callbacks"] if "PosthocEMA" in k]
    assert not (tmp_path / "run" / "checkpoints" / "posthoc").exists()
    train(compose_config([*TOY, *POSTHOC, "iterations=8"], tmp_path / "tracked"))
    tracked = torch.load(tmp_path / "tracked" / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["state_dict"].keys() == tracked["state_dict"].keys()
    for key, value in state["state_dict"].items():
        assert torch.equal(value, tracked["state_dict"][key]), key


def module_cli(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


@pytest.mark.slow  # 30 s on 2 cores: a training run, the post-hoc command and evaluate
def test_command_writes_a_checkpoint_evaluate_takes(tmp_path: Path) -> None:
    """``python -m lightning_r1.posthoc_ema`` on a trained run: σ_rel 0.05 (tracked) reproduces the callback's own
    average in last.ckpt; 0.08 (not tracked) differs from both; snapshots past last.ckpt are left out; evaluate
    takes the file; bad input is one line and exit code 2."""
    run = tmp_path / "run"
    train(compose_config([*TOY, *POSTHOC, "iterations=20"], run))
    folder = (
        run / "checkpoints" / "posthoc"
    )  # a stale snapshot past last.ckpt (a run resumed from earlier): unused
    torch.save(
        torch.load(folder / "iter_20.pt", weights_only=True) | {"iteration": 24}, folder / "iter_24.pt"
    )
    proc = module_cli("lightning_r1.posthoc_ema", f"run_dir={run}", "sigma_rel=[0.05,0.08]", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    written = {s: run / "checkpoints" / f"posthoc_ema_{s}.ckpt" for s in ("0.05", "0.08")}
    states = {s: torch.load(p, weights_only=True) for s, p in written.items()}
    tracked = callback_state(run)["emas"]
    for key, value in tracked[0].items():
        torch.testing.assert_close(
            states["0.05"]["state_dict"][f"generator_ema.{key}"], value, atol=1e-6, rtol=0
        )
    recon = states["0.08"]["state_dict"]["generator_ema.net.0.weight"]
    assert not torch.allclose(recon, tracked[0]["net.0.weight"]) and not torch.allclose(
        recon, tracked[1]["net.0.weight"]
    )
    info = states["0.08"]["lightning_r1_posthoc_ema"]
    assert info["sigma_rel"] == 0.08 and info["iteration"] == 20 and info["snapshots"] == [4, 8, 12, 16, 20]

    proc = module_cli(
        "lightning_r1.evaluate", f"ckpt_path={written['0.08']}", "trainer.accelerator=cpu", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((run / "eval.json").read_text())
    assert result["checkpoint"] == str(written["0.08"].absolute()) and "val/reverse_kl" in result["metrics"]

    # generate: the reconstruction and last.ckpt (other weights, the same iteration) get folders of their own
    for ckpt in (written["0.08"], run / "checkpoints" / "last.ckpt"):
        proc = module_cli("lightning_r1.generate", f"ckpt_path={ckpt}", "num_samples=8", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
    drawn = {p.parent.name: np.load(p) for p in (run / "generated").glob("*/samples.npy")}
    assert drawn.keys() == {"posthoc_ema_0.08", "iter_20"}
    assert not np.array_equal(drawn["posthoc_ema_0.08"], drawn["iter_20"])

    proc = module_cli("lightning_r1.posthoc_ema", f"run_dir={run}", "sigma_rel=0.5", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lightning_r1: error: sigma_rel:"), proc.stderr


def test_bad_input_names_the_field(tmp_path: Path) -> None:
    """A run without post-hoc EMA, no run directory, no snapshots, no σ_rel: a ConfigError naming the field (the
    command prints it as one line with exit code 2, as above); bad training settings likewise, before training."""
    plain = tmp_path / "plain"
    train(compose_config([*TOY, "metrics=none", "iterations=2"], plain))
    with pytest.raises(ConfigError, match="^run_dir: expected a run trained with post-hoc EMA"):
        write_posthoc_checkpoints(plain, [0.08])
    with pytest.raises(ConfigError, match="^run_dir: expected a run directory"):
        write_posthoc_checkpoints(tmp_path / "nowhere", [0.08])
    with pytest.raises(ConfigError, match="^sigma_rel: expected a number or a list"):
        sigma_rel_list(None)
    run = tmp_path / "run"
    train(compose_config([*TOY, *POSTHOC, "iterations=4"], run))
    for snapshot in (run / "checkpoints" / "posthoc").glob("*.pt"):
        snapshot.unlink()  # the run's config still says it had them
    with pytest.raises(ConfigError, match="^run_dir: expected post-hoc EMA snapshots"):
        write_posthoc_checkpoints(run, [0.08])
    for case, (override, field) in enumerate(
        [
            ("gan.posthoc_ema.sigma_rels=[0.05,0.4]", "gan.posthoc_ema.sigma_rels"),
            ("gan.posthoc_ema.sigma_rels=0.05", "gan.posthoc_ema.sigma_rels"),
            ("gan.posthoc_ema.snapshot_every=0", "gan.posthoc_ema.snapshot_every"),
        ]
    ):
        bad = tmp_path / f"bad{case}"
        # ConfigError, or check_positive_int's ValueError: the app's bad input (exit code 2)
        with pytest.raises(ValueError, match=field):
            train(compose_config([*TOY, *POSTHOC, "iterations=2", override], bad))
        assert not (bad / "checkpoints" / "posthoc").exists()
