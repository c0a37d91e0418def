# `python -m wavenet_rt.train --data DIR --config small --out RUN`: trains a WaveNet on a built dataset.
# Random windows, Adam with warm-up + cosine LR, an EMA of the weights (what gets exported), validation
# bits/sample, atomic checkpoints that `--resume` continues exactly, a CSV log (TensorBoard if installed),
# and data-parallel training across processes under torchrun (gloo on CPU, NCCL on GPU).
from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm

from .batch_stream import BatchStream
from .checkpoint import has_checkpoint, load_checkpoint, save_checkpoint
from .conditioning import AGE_SUFFIX, FEATURE_SETS, KEYS, ONSET_CHANNELS, feature_channels
from .config import WaveNetConfig
from .data import Batch, WindowSampler, with_attack_gain, with_input_level_drift, with_input_noise, with_input_offset
from .dataset.relight import stale_onsets
from .dataset.shards import load_manifest
from .model import WaveNet
from .velocity_level import soundfont_curve_db
from .weights import load_model, read_model_config, save_model

LOG_FIELDS = ["step", "train_bits", "lr", "samples_per_s", "valid_bits", "elapsed_s"]
SESSION_ARGS = ("resume", "minutes", "threads", "progress")  # may change between a run and its resumption


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m wavenet_rt.train",
        description="Train a WaveNet on a dataset built by `python -m wavenet_rt.dataset build`. Writes "
        "RUN/model.safetensors (the best EMA weights by validation), RUN/checkpoint.pt, RUN/log.csv. "
        "For several processes: torchrun --nproc_per_node N -m wavenet_rt.train ...")
    p.add_argument("--data", type=Path, help="dataset folder (required unless --resume)")
    p.add_argument("--out", type=Path, required=True, help="run folder for checkpoints, logs and the model file")
    p.add_argument("--config", default="small", help="preset (small, medium, large) or a WaveNetConfig JSON file")
    p.add_argument("--unconditional", action="store_true", help="ignore the dataset's MIDI conditioning (a baseline)")
    p.add_argument("--excitation", choices=["", "periods"], default=None,
                   help="'periods': feed the network its own input one held key's period back, so notes keep "
                        "their pitch (default: --config's, none for the presets)")
    p.add_argument("--voices", type=int, default=None, metavar="N",
                   help="the polyphony players give the exported model by default: N voices of one key each "
                        "(for a model that learned single lines, e.g. --solo-share 1), or 0: one stream hears "
                        "every key (default: --config's, 0 for the presets)")
    p.add_argument("--dc-blocker", type=float, default=None, metavar="R",
                   help="the pole of the DC blocker the exported model plays and hears through (config dc_blocker; "
                        "0.9995 for the shipped piano), 0: none. Training does not use it. Default: the --init "
                        "model's, else --config's (0 for the presets)")
    p.add_argument("--velocity-level", action=argparse.BooleanOptionalAction, default=None,
                   help="learn every note at the loudest's level: each window's audio divided by its voice's "
                        "level by velocity (the soundfont's, 40 log10(v / 127) dB), which the exported model's "
                        "config names (velocity_curve_db) and the players scale each voice by, so the model's "
                        "hiss floor sinks with soft notes. Needs --voices. Default: the --init model's, else off")
    p.add_argument("--note-ages", action=argparse.BooleanOptionalAction, default=None,
                   help="condition on a clock per sounding key beside the roll and onsets (features ..._age88, "
                        "computed from the dataset's frames), so a held note can fall as it did in the data. "
                        "Default: the --init model's, else off")
    p.add_argument("--input-level-drift", type=float, default=0.0, metavar="DB",
                   help="scale half the windows' inputs (never the targets) by one gain uniform in +-DB dB: the "
                        "level to come must then be read from the keys, not the past (default 0: off)")
    p.add_argument("--init", type=Path, metavar="MODEL",
                   help="start from this model file's weights instead of random ones (fine-tuning, or a curriculum "
                        "over datasets); its shape must be --config's and its data options the dataset's")
    p.add_argument("--steps", type=int, default=20000,
                   help="optimizer steps at most; also the LR schedule's length unless --minutes ends the run sooner")
    p.add_argument("--minutes", type=float, default=0,
                   help="stop (checkpointed, exported) after this wall time; the LR schedule is then laid out over "
                        "the steps that fit, estimated from the measured step time as the run goes")
    p.add_argument("--batch", type=int, default=4, help="windows per step and process (default 4)")
    p.add_argument("--window", type=int, default=4000,
                   help="target samples per window (each comes after a receptive field of context)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default 1e-3)")
    p.add_argument("--warmup", type=int, default=200,
                   help="linear LR warm-up steps (default 200; at most a fifth of the planned steps)")
    p.add_argument("--ema", type=float, default=0.999, help="EMA decay of the exported weights (default 0.999)")
    p.add_argument("--input-noise", type=float, default=0.0, metavar="CLASSES",
                   help="std, in mu-law classes, of Gaussian noise added to the input codes (never the targets): "
                        "makes free-running sturdier against the model's own sampling errors (default 0: off)")
    p.add_argument("--input-offset", type=float, default=0.0, metavar="AMPLITUDE",
                   help="largest DC offset (linear audio, e.g. 0.9) added to the start of half the windows' inputs "
                        "(never the targets): teaches recovery from a loud DC state when free-running (default 0: off)")
    p.add_argument("--attack-gain", type=float, default=0.0, metavar="DB",
                   help="turns the inputs (never the targets) of half the windows down by up to DB dB wherever a "
                        "note's onset channel is lit: it learns to take an attack's level from the key's "
                        "velocity rather than from its own first samples, which free-running come out quiet "
                        "(default 0: off)")
    p.add_argument("--attack-boost", type=float, default=0.0, metavar="DB",
                   help="with --attack-gain: the same windows' onset inputs may also be turned up, by up to DB dB "
                        "(the gain is drawn from -attack-gain .. +attack-boost), so that a past louder than the "
                        "velocity's level is also corrected; cuts alone make soft notes come out too loud "
                        "(default 0: cuts only)")
    p.add_argument("--own-samples", type=float, default=0.0, metavar="SHARE",
                   help="share of input samples replaced, each step, by samples the model itself draws from its "
                        "teacher-forced predictions (never the targets): it learns to go on from its own "
                        "sampling errors, as it must when it plays; one more forward pass a step; the model "
                        "exported is then the latest validation's, not the best's (default 0: off)")
    p.add_argument("--solo-share", type=float, default=None, metavar="SHARE",
                   help="share of training windows from voices rendered alone (a dataset built with --solo-parts); "
                        "the rest come from whole pieces (default: in proportion to their lengths, about 0.8 "
                        "for four-part chorales)")
    p.add_argument("--line-share", type=float, default=None, metavar="SHARE",
                   help="share of training windows from the generated lines (a dataset built with --generated), "
                        "which cover the keyboard evenly; the rest come from the other pieces as without it "
                        "(default: in proportion to their lengths, with --solo-share among the rest)")
    p.add_argument("--ends-share", type=float, default=0.0, metavar="SHARE",
                   help="share of training windows drawn so that their targets hold a key at an end of the "
                        "keyboard (below C2, or C7 and up), which the chorales seldom reach; validation keeps "
                        "the usual mix; finding them reads every piece's frames, about a minute for "
                        "data/piano16 (default 0: windows fall as the other shares say)")
    p.add_argument("--bf16", action="store_true",
                   help="compute the training steps in bfloat16 (torch autocast; the weights, the optimizer and the "
                        "validation figure stay fp32): about 1.25x the steps per minute on a CPU with AVX512-BF16 "
                        "or AMX, slower on one without")
    p.add_argument("--clip", type=float, default=1.0, help="gradient norm clip (default 1.0)")
    p.add_argument("--valid-every", type=int, default=250, help="validate (and export if best) every K steps")
    p.add_argument("--valid-windows", type=int, default=32, help="fixed validation windows (default 32)")
    p.add_argument("--checkpoint-every", type=int, default=250, help="checkpoint every K steps (default 250)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads per process (default: torch's choice)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly where it stopped")
    p.add_argument("--save-replicas", action="store_true",
                   help="debugging: every process writes its final weights to RUN/replica-<rank>.safetensors")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return p.parse_args(argv)


class Distributed:
    """Rank bookkeeping; a no-op outside torchrun."""

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.main = self.rank == 0
        self.device = torch.device("cpu")
        if self.world > 1:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            if backend == "nccl":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(self.device)
            dist.init_process_group(backend)
        elif torch.cuda.is_available():
            self.device = torch.device("cuda")

    def gather(self, obj):
        if self.world == 1:
            return [obj]
        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def any(self, flag: bool) -> bool:
        """True on every rank when any rank says True (keeps the ranks stepping together)."""
        if self.world == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t)
        return bool(t.item() > 0)

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def build_config(spec: str, manifest: dict, unconditional: bool, excitation: str | None = None,
                 voices: int | None = None, dc_blocker: float | None = None,
                 velocity_level: bool | None = None, note_ages: bool | None = None) -> WaveNetConfig:
    """The network shape from a preset or JSON file; everything the data decides comes from the manifest."""
    try:
        base = WaveNetConfig.preset(spec)
    except ValueError:
        path = Path(spec)
        if not path.is_file():
            raise ValueError(f"--config {spec!r} is neither a preset (small, medium, large) nor a JSON file") from None
        base = WaveNetConfig.from_json(path.read_text())
    cond = 0 if unconditional else manifest["cond_channels"]
    features = manifest["cond_features"] if cond else ""
    if note_ages and cond:
        if features + AGE_SUFFIX not in FEATURE_SETS:
            raise ValueError(f"--note-ages needs a dataset conditioned on roll88_onset88, not {features!r}")
        features, cond = features + AGE_SUFFIX, feature_channels(features + AGE_SUFFIX)
    return dataclasses.replace(base, classes=manifest["classes"], sample_rate=manifest["sample_rate"],
                               cond_channels=cond, cond_hop=manifest["cond_hop"], cond_features=features,
                               global_classes=manifest["global_classes"],
                               excitation=base.excitation if excitation is None else excitation,
                               voices=base.voices if voices is None else voices,
                               dc_blocker=base.dc_blocker if dc_blocker is None else dc_blocker,
                               velocity_curve_db=soundfont_curve_db() if velocity_level else [])


def lr_factor(step: int, warmup: int, steps: int) -> float:
    """Linear warm-up (at most a fifth of the steps), then a cosine from 1 down to 0.1 at the last step."""
    warmup = max(1, min(warmup, steps // 5))
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def window_loss(net, inputs, targets, cond, glob, bf16: bool = False) -> torch.Tensor:
    """Mean cross-entropy (nats) of the targets, computing only the positions they need; under bfloat16
    autocast with `bf16`, the loss itself taken on fp32 logits."""
    with torch.autocast(inputs.device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = net(inputs, cond, glob, outputs=targets.shape[1])  # (B, classes, N)
    return F.cross_entropy(logits.float(), targets)


@torch.no_grad()
def with_own_samples(model, inputs, cond, glob, share: float, bf16: bool = False,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """inputs (B, T) with each position after the first replaced, with probability `share`, by a class the
    model draws (temperature 1) from its teacher-forced prediction of that position; `generator` draws."""
    with torch.autocast(inputs.device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = model(inputs, cond, glob)  # (B, classes, T); position t predicts input t + 1
    probs = torch.softmax(logits[:, :, :-1].float().transpose(1, 2), dim=-1)  # (B, T - 1, classes)
    drawn = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator).view(probs.shape[:2])
    replaced = torch.rand(drawn.shape, device=inputs.device, generator=generator) < share
    return torch.cat([inputs[:, :1], torch.where(replaced, drawn, inputs[:, 1:])], dim=1)


def ema_average(decay: float):
    def average(avg: torch.Tensor, new: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
        d = min(decay, (1 + int(count)) / (10 + int(count)))  # a young average follows the weights closely
        return avg + (new - avg) * (1 - d)

    return average


class Trainer:
    def __init__(self, args: argparse.Namespace, ddp: Distributed) -> None:
        self.ddp = ddp
        self.run_dir = args.out
        checkpoint = None
        if args.resume:
            checkpoint = load_checkpoint(self.run_dir)
            saved = checkpoint["args"]
            # options newer than the run take their defaults
            args = argparse.Namespace(**{**vars(args), **saved, **{k: getattr(args, k) for k in SESSION_ARGS}})
            args.data, args.out = Path(saved["data"]), Path(saved["out"])
        elif has_checkpoint(self.run_dir):
            raise ValueError(f"{self.run_dir} already holds a run; pass --resume to continue it or pick another --out")
        if args.data is None:
            raise ValueError("--data is required")
        if checkpoint is None and args.init:  # what the --init model has unless asked: kept with the run's args
            started = read_model_config(args.init)
            if args.dc_blocker is None:
                args.dc_blocker = started.dc_blocker
            if args.velocity_level is None:
                args.velocity_level = bool(started.velocity_curve_db)
            if args.note_ages is None:
                args.note_ages = started.cond_features.endswith(AGE_SUFFIX)
        self.args = args
        if args.threads:
            torch.set_num_threads(args.threads)
        torch.manual_seed(args.seed)  # identical initial weights in every process
        manifest = load_manifest(args.data)
        if not args.unconditional and (stale := stale_onsets(manifest, args.data)):
            raise ValueError(stale)  # it would learn onsets that no player lights
        self.config = build_config(args.config, manifest, args.unconditional, getattr(args, "excitation", None),
                                   getattr(args, "voices", None), getattr(args, "dc_blocker", None),
                                   getattr(args, "velocity_level", None), getattr(args, "note_ages", None))
        if args.attack_gain and (not args.attack_gain > 0 or self.config.cond_channels < ONSET_CHANNELS.stop):
            raise ValueError("--attack-gain takes a positive number of dB and a model conditioned on onset "
                             "channels (roll88_onset88...)")
        if args.attack_boost and (not args.attack_boost > 0 or not args.attack_gain):
            raise ValueError("--attack-boost takes a positive number of dB, beside --attack-gain")
        rf = self.config.receptive_field
        shares = {"solo_share": args.solo_share, "line_share": getattr(args, "line_share", None),  # None: older runs
                  "velocity_curve_db": self.config.velocity_curve_db,
                  "with_ages": self.config.cond_features.endswith(AGE_SUFFIX)}
        self.train_data = WindowSampler(args.data, "train", rf, args.window, use_cond=not args.unconditional,
                                        ends_share=getattr(args, "ends_share", 0.0), **shares)  # 0: older runs
        self.valid_data, self.valid_spec = None, []
        if ddp.main and any(r["split"] == "valid" for r in manifest["items"].values()):
            # validated on the mix it trains on: a run on lone voices is judged by lone voices
            self.valid_data = WindowSampler(args.data, "valid", rf, args.window, use_cond=not args.unconditional,
                                            **shares)
            self.valid_spec = self.valid_data.fixed_windows(args.valid_windows)
        self.model = WaveNet(self.config).to(ddp.device)
        if args.init and checkpoint is None:  # a resumed run restores its own weights
            self._initialise_from(Path(args.init))
        self.ema = AveragedModel(self.model, avg_fn=ema_average(args.ema), use_buffers=True)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=args.lr)
        # the schedule's length: --steps, or fewer when --minutes ends the run sooner (plan_steps)
        self.planned = args.steps
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, args.warmup, self.planned))
        self.rng = np.random.default_rng([args.seed, ddp.rank])
        # own samples: each rank draws its own (torch's global generator is seeded alike in every process)
        self.own_sample_generator = torch.Generator(ddp.device).manual_seed(
            int(np.random.SeedSequence([args.seed, ddp.rank]).generate_state(1)[0]))
        self.batches: BatchStream | None = None  # started by run(), after a resumed run restored self.rng
        self.step, self.best = 0, math.inf
        if checkpoint is not None:
            self._restore(checkpoint)
        self.net = self.model
        if ddp.world > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(self.model)

    # ---- state ----------------------------------------------------------------------------------

    def _initialise_from(self, path: Path) -> None:
        start = load_model(path)
        # A model without period taps may start one that has them: the new projection starts at zero.
        adds_excitation = self.config.excitation and not start.config.excitation
        if start.config.excitation and not self.config.excitation:
            raise ValueError(f"--init {path} has period taps ({start.config.excitation}); pass --excitation "
                             f"{start.config.excitation} to keep them")
        # how it is played (voices, DC blocker, temperature and its scales, gain) may change between runs, and the
        # frame hop: frames are repeated over their hop before the projection, so the weights mean the same at any
        # hop; its shape and other data may not. Temperature, its scales and gain are a shipped model's, set when
        # it ships, so the shipped model itself may start the next stage. A model that learned its notes at their
        # own levels may go on to learn them at the loudest's (--velocity-level), and back.
        adds_ages = self.config.cond_features == start.config.cond_features + AGE_SUFFIX
        may_differ = dict(excitation=self.config.excitation, voices=self.config.voices, cond_hop=self.config.cond_hop,
                          dc_blocker=self.config.dc_blocker, temperature=self.config.temperature,
                          gain=self.config.gain, strike_scale=self.config.strike_scale,
                          sustain_scale=self.config.sustain_scale, velocity_curve_db=self.config.velocity_curve_db)
        if adds_ages:
            may_differ.update(cond_features=self.config.cond_features, cond_channels=self.config.cond_channels)
        if dataclasses.replace(start.config, **may_differ) != self.config:
            mine, theirs = dataclasses.asdict(self.config), dataclasses.asdict(start.config)
            diffs = "; ".join(f"{k}: {theirs[k]!r} there, {mine[k]!r} here" for k in mine if mine[k] != theirs[k])
            raise ValueError(f"--init {path} does not fit this run ({diffs}); pass the --config it was trained with "
                             "and a dataset built with the same options")
        weights = start.state_dict()
        if adds_ages:  # the clocks' columns of each layer's conditioning projection start at zero
            for name, w in weights.items():
                if name.endswith(".cond.weight"):
                    weights[name] = torch.cat([w, w.new_zeros(w.shape[0], KEYS, *w.shape[2:])], dim=1)
        missing, _ = self.model.load_state_dict(weights, strict=not adds_excitation)
        if adds_excitation and missing != ["excite.weight"]:
            raise ValueError(f"--init {path} lacks {missing}")

    def _restore(self, ck: dict) -> None:
        self.model.load_state_dict(ck["model"])
        self.ema.load_state_dict(ck["ema"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.schedule.load_state_dict(ck["schedule"])
        self.step, self.best = ck["step"], ck["best"]
        self.planned = ck.get("planned_steps") or self.args.steps  # a time plan stands; else --steps
        torch.set_rng_state(ck["torch_rng"])
        states, own = ck["data_rng"], ck.get("own_sample_rng")  # runs from before it draw afresh
        if len(states) == self.ddp.world:
            self.rng.bit_generator.state = states[self.ddp.rank]
            if own is not None:
                self.own_sample_generator.set_state(own[self.ddp.rank])
        elif self.ddp.main:
            print(f"warning: resumed with {self.ddp.world} processes instead of {len(states)}; "
                  "data order differs from an uninterrupted run", file=sys.stderr)

    def checkpoint(self) -> None:
        used = self.batches.rng_state if self.batches is not None else self.rng.bit_generator.state
        data_rng = self.ddp.gather(used)  # collective: every rank takes part
        own_sample_rng = self.ddp.gather(self.own_sample_generator.get_state().cpu())
        if self.ddp.main:
            args = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(self.args).items()}
            save_checkpoint(self.run_dir, {
                "model": self.model.state_dict(), "ema": self.ema.state_dict(),
                "optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict(),
                "step": self.step, "best": self.best,
                "planned_steps": self.planned if self.planned != self.args.steps else None,
                "torch_rng": torch.get_rng_state(),
                "data_rng": data_rng, "own_sample_rng": own_sample_rng, "args": args,
                "config": self.config.to_json()})
        self.ddp.barrier()

    # ---- steps ----------------------------------------------------------------------------------

    def _tensors(self, batch: Batch):
        dev = self.ddp.device
        cond = None if batch.cond is None else torch.from_numpy(batch.cond).to(dev)
        glob = None if batch.global_id is None else torch.from_numpy(batch.global_id).to(dev)
        return torch.from_numpy(batch.inputs).to(dev), torch.from_numpy(batch.targets).to(dev), cond, glob

    def draw_batch(self, rng: np.random.Generator) -> Batch:
        """One training batch with its input augmentations (runs in the BatchStream's thread)."""
        batch = self.train_data.sample(rng, self.args.batch)
        if self.args.input_noise:
            batch = with_input_noise(batch, self.args.input_noise, rng, self.config.classes)
        if self.args.input_offset:
            batch = with_input_offset(batch, self.args.input_offset, rng, self.config.classes)
        if getattr(self.args, "input_level_drift", 0.0):  # absent: older runs
            batch = with_input_level_drift(batch, self.args.input_level_drift, rng, self.config.classes)
        if self.args.attack_gain:
            batch = with_attack_gain(batch, self.args.attack_gain, self.args.attack_boost, rng,
                                     self.config.classes, self.config.cond_hop)
        return batch

    def own_samples(self, inputs, cond, glob) -> torch.Tensor:
        return with_own_samples(self.model, inputs, cond, glob, self.args.own_samples, self.args.bf16,
                                self.own_sample_generator)

    def train_step(self) -> float:
        inputs, targets, cond, glob = self._tensors(self.batches.next())
        if self.args.own_samples:
            inputs = self.own_samples(inputs, cond, glob)
        loss = window_loss(self.net, inputs, targets, cond, glob, bf16=self.args.bf16)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.args.clip)
        self.optimizer.step()
        self.schedule.step()
        self.ema.update_parameters(self.model)
        self.step += 1
        return loss.item() / math.log(2)

    @torch.no_grad()
    def validate(self) -> float:
        """Mean bits per target sample of the EMA weights over the fixed validation windows."""
        model, total, count = self.ema.module, 0.0, 0
        for i in range(0, len(self.valid_spec), self.args.batch):
            batch = self.valid_data.windows(self.valid_spec[i:i + self.args.batch])
            inputs, targets, cond, glob = self._tensors(batch)
            logits = model(inputs, cond, glob, outputs=targets.shape[1])
            total += F.cross_entropy(logits, targets, reduction="sum").item()
            count += targets.numel()
        return total / count / math.log(2)

    def validate_and_export(self) -> float | None:
        """On the main process: validation bits (None without a valid split); exports the EMA model if best,
        or always with --own-samples: validation hears clean inputs, which such a model learned not to trust
        one by one, so its figure rises while what a listener hears improves and must not pick the model."""
        bits = None
        if self.ddp.main:
            bits = self.validate() if self.valid_data is not None else None
            best = bits is None or bits < self.best
            self.best = bits if best and bits is not None else self.best
            if best or self.args.own_samples:
                save_model(self.ema.module, self.run_dir / "model.safetensors")
        self.ddp.barrier()
        return bits

    # ---- loop -----------------------------------------------------------------------------------

    def run(self) -> int:
        args, main = self.args, self.ddp.main
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log = RunLog(self.run_dir, self.step, main, args.resume)
        if main and args.resume:
            print(f"resuming run {self.run_dir} from step {self.step} of {self.planned}", file=sys.stderr)
        if main and not args.resume:
            (self.run_dir / "config.json").write_text(self.config.to_json())
            print(f"training {self.config.layers}-layer WaveNet (receptive field {self.config.receptive_field}, "
                  f"{sum(p.numel() for p in self.model.parameters()):,} parameters) on "
                  f"{self.train_data.hours:.2f} h, {self.ddp.world} process(es)", file=sys.stderr)
        if main and args.bf16 and self.ddp.device.type == "cpu" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            print("note: this CPU has no native bfloat16 (AVX512-BF16 or AMX): --bf16 runs slower than fp32 here",
                  file=sys.stderr)
        bar = tqdm(total=self.planned, initial=self.step, unit="step", disable=not (main and args.progress))
        started = time.monotonic()
        self.batches = BatchStream(self.draw_batch, self.rng)
        try:
            with StopSignal() as stop:
                self._loop(log, bar, stop, started)
        finally:
            self.batches.close()
            bar.close()
            log.close()
        self.checkpoint()
        if stop.signal is not None:
            if main:
                print(f"\nstopped at step {self.step}; checkpoint saved. Resume with: "
                      f"python -m wavenet_rt.train --out {self.run_dir} --resume", file=sys.stderr)
            return 128 + stop.signal
        if args.save_replicas:
            save_model(self.model, self.run_dir / f"replica-{self.ddp.rank}.safetensors")
        if main:
            best = "n/a (no valid split)" if self.best == math.inf else f"{self.best:.4f} bits/sample"
            which = " (the latest validation's: --own-samples)" if args.own_samples else ""
            print(f"done at step {self.step}; best validation {best}; model{which}: "
                  f"{self.run_dir / 'model.safetensors'}", file=sys.stderr)
        return 0

    def plan_steps(self, first_step: int, started: float, bar: tqdm) -> None:
        """Under --minutes: the steps that fit, from this session's measured time per step (validation and
        checkpoints included); the LR schedule and the bar follow. Every process takes rank 0's figure."""
        elapsed = time.monotonic() - started
        left = self.args.minutes * 60 - elapsed
        fit = self.step + int(left * (self.step - first_step) / elapsed)
        planned = int(self.ddp.gather(min(self.args.steps, max(self.step + 1, fit)))[0])
        if planned != self.planned:
            self.planned = bar.total = planned
            bar.refresh()

    def _loop(self, log: RunLog, bar: tqdm, stop: StopSignal, started: float) -> None:
        """Steps until the last planned step, the time limit, or a stop signal (always between two steps)."""
        args = self.args
        targets_per_step = args.batch * args.window * self.ddp.world
        first_step, replan_at = self.step, self.step + 5  # the first steps are slow: measure a few first
        while self.step < self.planned:
            t0 = time.perf_counter()
            bits = self.train_step()
            rate = targets_per_step / (time.perf_counter() - t0)
            if args.minutes and self.step >= replan_at:
                first_plan = replan_at == first_step + 5
                self.plan_steps(first_step, started, bar)
                replan_at = self.step + max(5, (self.planned - self.step) // 20)
                if first_plan and self.ddp.main:
                    tqdm.write(f"--minutes {args.minutes:g}: about {self.planned} steps fit; the LR schedule spans "
                               "them", file=sys.stderr)
            valid = None
            if self.step % args.valid_every == 0 or self.step == self.planned:
                valid = self.validate_and_export()
            log.write(self.step, bits, self.schedule.get_last_lr()[0], rate, valid, time.monotonic() - started)
            bar.update(1)
            show = {"bits": f"{bits:.3f}", "samples_s": f"{rate:,.0f}"}
            bar.set_postfix(show, valid="-" if self.best == math.inf else f"{self.best:.3f}")
            out_of_time = bool(args.minutes) and time.monotonic() - started > args.minutes * 60
            if self.ddp.any(out_of_time):
                if valid is None:
                    self.validate_and_export()
                    bar.set_postfix(show, valid="-" if self.best == math.inf else f"{self.best:.3f}")
                return
            # Every process stops at the same step, so the checkpoint that follows is one consistent state.
            if self.ddp.any(stop.signal is not None):
                stop.signal = stop.signal or signal.SIGINT
                return
            if self.step % args.checkpoint_every == 0:
                self.checkpoint()


class StopSignal:
    """Ctrl-C (SIGINT) or SIGTERM asks the training loop to stop after the step in progress, so the
    checkpoint holds a whole step; a second signal stops at once (the last checkpoint stands)."""

    def __enter__(self) -> StopSignal:
        self.signal: int | None = None
        self.previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum: int, _frame) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signum

    def __exit__(self, *exc) -> None:
        for s, handler in self.previous.items():
            signal.signal(s, handler)


class RunLog:
    """log.csv (one row per step) and TensorBoard scalars when tensorboard is installed. On resume, rows
    after the checkpoint's step (work that was lost) are dropped so the log reads as one run."""

    def __init__(self, run_dir: Path, step: int, main: bool, resume: bool) -> None:
        self.file = self.writer = self.tb = None
        if not main:
            return
        path = run_dir / "log.csv"
        rows = []
        if resume and path.is_file():
            with open(path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
        self.file = open(path, "w", newline="")
        self.writer = csv.DictWriter(self.file, LOG_FIELDS)
        self.writer.writeheader()
        self.writer.writerows(rows)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(run_dir / "tensorboard"))
        except ImportError:
            pass

    def write(self, step: int, bits: float, lr: float, rate: float, valid: float | None, elapsed: float) -> None:
        if self.writer is None:
            return
        self.writer.writerow({"step": step, "train_bits": f"{bits:.6f}", "lr": f"{lr:.6g}",
                              "samples_per_s": f"{rate:.0f}", "valid_bits": "" if valid is None else f"{valid:.6f}",
                              "elapsed_s": f"{elapsed:.1f}"})
        self.file.flush()
        if self.tb is not None:
            self.tb.add_scalar("train/bits_per_sample", bits, step)
            self.tb.add_scalar("train/samples_per_s", rate, step)
            if valid is not None:
                self.tb.add_scalar("valid/bits_per_sample", valid, step)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        if self.tb is not None:
            self.tb.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ddp = Distributed()
    try:
        return Trainer(args, ddp).run()
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        ddp.close()


if __name__ == "__main__":
    sys.exit(main())
