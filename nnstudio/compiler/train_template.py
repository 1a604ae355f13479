"""Train @TITLE@ (the network in @MODEL@.py) with plain PyTorch.

@GENERATED@ from the project's training settings, which the flags
below override. One process (a GPU when there is one, else the CPU):

    python train.py
    python train.py --epochs 20 --batch-size 256 --lr 0.001 --device cuda

Many processes with torchrun, on one machine or several:

    torchrun --standalone --nproc_per_node=4 train.py
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d \\
        --rdzv_endpoint=HOST:29400 --rdzv_id=JOB train.py      # run on every machine

--batch-size is the global batch: each of N processes takes batch/N samples of
every step. All processes walk the same seeded order of the training set and
each takes its own slice of each global batch, so a run on N processes computes
the same steps as a run on one, and ends with the same weights (up to float
rounding; dropout masks and, on CPUs, BatchNorm statistics are per process).

The data, its split, the loss, the optimizer, the schedule, the order of samples
and the last-batch rule come from nnstudio_recipe.py beside this file: the very
code nnstudio trains with, so this script trains like the app (same seed, same
device: the same numbers). The model takes raw inputs: its Preprocess module is
fitted to the training samples when a run starts (not when it resumes) and
saved with the weights.

Rank 0 alone prints, and writes --out/checkpoint.pt and --out/metrics.csv after
every epoch (resume with --resume) and --out/weights.pt at the end, a state_dict
for the model: model.load_state_dict(torch.load("weights.pt", weights_only=True)).
`nnstudio export PROJECT -o DIR --weights weights.pt` adds predict.py for it.

Data: the built-in sets (generated exactly as in nnstudio), --data FILE.npz
holding arrays x and y (or x_train, y_train, x_val, y_val for a fixed split), or
--data FILE.csv (one row per sample, the label in the project's label column,
else the last). Needs numpy and torch, and scikit-learn for digits, circles and
moons.
"""

import argparse
import csv
import math
import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import nnstudio_recipe as recipe
import numpy as np
import torch
import torch.distributed as dist
from model import Model  # @MODEL_IMPORT@
from torch import nn
from torch.nn.parallel import DistributedDataParallel

PROJECT: dict = {}  # @PROJECT@
# The seeds nnstudio accepts, 0..SEED_MAX (from nnstudio.core.seeds when train.py is written).
SEED_MAX = ...  # @SEED_MAX@

RANK = int(os.environ.get("RANK", "0"))
WORLD_SIZE = int(os.environ.get("WORLD_SIZE", "1"))
LOCAL_RANK = int(os.environ.get("LOCAL_RANK", "0"))
METRICS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr")


def fail(message):
    """Stop with a sentence; under torchrun every rank stops, rank 0 says why."""
    if RANK == 0:
        print(f"error: {message}", file=sys.stderr)
    if dist.is_initialized():
        dist.destroy_process_group()
    sys.exit(1)


def log(message):
    if RANK == 0:
        print(message, flush=True)


def network():
    return recipe.NetworkIO(**PROJECT["network"])


def load_data(name, seed):
    """The recipe's samples (raw inputs) of the built-in set, .npz or CSV file ``name``."""
    io = network()
    try:
        if name in recipe.BUILTIN:
            x, y, class_names = recipe.BUILTIN[name](io.input_shape, recipe.wanted_classes(io), seed)
            arrays, shown = recipe.Arrays(x, y, class_names), name
        elif name.lower().endswith(".npz"):
            path = Path(name).expanduser()
            arrays, shown = recipe.read_npz(path), path.name
        elif name.lower().removesuffix(".gz").endswith((".csv", ".tsv", ".txt")):
            path = Path(name).expanduser()
            arrays, shown = recipe.read_csv(path, PROJECT["label_column"]), path.name
        else:
            fail(
                f"train.py reads the built-in data sets ({', '.join(recipe.BUILTIN)}), .npz and CSV files, "
                f"not {name}; save the data with numpy.savez(path, x=inputs, y=labels) and pass --data path."
            )
        samples = recipe.prepare(
            arrays, shown, io, target=PROJECT["target"], loss=PROJECT["loss"],
            val_split=PROJECT["val_split"], seed=seed,
        )  # fmt: skip
        loss = recipe.resolve_loss(
            PROJECT["loss"], samples.task, samples.num_classes, samples.target_shape, shown, io
        )
    except recipe.RecipeError as exc:
        fail(str(exc))
    return samples, loss


def pick_device(name):
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            fail(f"--device {name} was asked for, but this machine has no usable CUDA GPU.")
        if WORLD_SIZE > 1:  # torchrun starts one process per GPU: each takes its own
            return torch.device("cuda", LOCAL_RANK % torch.cuda.device_count())
    if name == "mps" and WORLD_SIZE > 1:
        fail("Apple's MPS backend runs in one process; start train.py without torchrun, or use --device cpu.")
    return torch.device(name)


def atomic_save(obj, path):
    """Write beside ``path`` and rename over it: a crash mid-save keeps the old file whole."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def write_metrics(rows, path):
    """metrics.csv: one row per epoch, numbers written in full."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(METRICS)
        writer.writerows([row[key] for key in METRICS] for row in rows)
    os.replace(tmp, path)


def evaluate(model, x, y, objective, device, batch):
    """Mean validation loss and accuracy (NaN without classes), each rank scoring every
    WORLD_SIZE-th sample in batches of the app's size."""
    rows = torch.arange(RANK, len(x), WORLD_SIZE)
    batches = (
        (x[part].to(device), y[part].to(device))
        for part in (rows[a : a + batch] for a in range(0, len(rows), batch))
    )
    model.eval()
    totals = recipe.evaluate(model, batches, objective, device)
    if WORLD_SIZE > 1:
        dist.all_reduce(totals)
    return recipe.mean_metrics(totals.tolist(), objective.has_accuracy)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Train the network in model.py; the flags default to the project's settings."
    )
    parser.add_argument("--epochs", type=int, default=PROJECT["epochs"])
    parser.add_argument(
        "--batch-size",
        type=int,
        default=PROJECT["batch_size"],
        help="samples per step over all processes (default %(default)s)",
    )
    parser.add_argument("--lr", type=float, default=PROJECT["lr"], help="learning rate (default %(default)s)")
    parser.add_argument(
        "--device",
        default=PROJECT["device"],
        help="auto, cpu, cuda or mps (default %(default)s); under torchrun, "
        "each process takes the GPU of its LOCAL_RANK",
    )
    parser.add_argument(
        "--data",
        default=PROJECT["dataset"],
        help=f"one of {', '.join(recipe.BUILTIN)}, an .npz or CSV file (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=PROJECT["seed"])
    parser.add_argument(
        "--out", default="checkpoints", help="folder for checkpoint.pt, metrics.csv and weights.pt"
    )
    parser.add_argument("--resume", metavar="CHECKPOINT", help="continue from a checkpoint.pt")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or not args.lr > 0:
        parser.error("--epochs and --batch-size must be at least 1, and --lr above 0.")
    if not 0 <= args.seed <= SEED_MAX:
        parser.error(f"--seed must be a whole number from 0 to {SEED_MAX}.")
    return args


def main(argv=None):
    """Train; returns the per-epoch metrics (dicts with the METRICS keys)."""
    args = parse_args(argv)
    if args.batch_size % WORLD_SIZE:
        fail(
            f"--batch-size {args.batch_size} does not split evenly over {WORLD_SIZE} processes; "
            f"use a multiple of {WORLD_SIZE}."
        )
    device = pick_device(args.device)
    if WORLD_SIZE > 1:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    samples, loss_kind = load_data(args.data, args.seed)
    objective = recipe.Objective(loss_kind, samples.task, samples.num_classes, network().output_shape)
    n = len(samples.x)

    torch.manual_seed(args.seed)  # the same initial weights in every process, and as in the app
    model = Model()
    if not args.resume:  # a checkpoint carries the statistics it was trained with
        rows = torch.from_numpy(recipe.preprocessing_rows(n, args.seed))
        recipe.fit_preprocessing(model, samples.x[rows])
    model.to(device)
    bounds = recipe.batch_bounds(n, args.batch_size, WORLD_SIZE, recipe.has_batch_norm(model))
    if WORLD_SIZE > 1 and device.type == "cuda":
        # Normalise over the global batch, as the one-process run does.
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = recipe.make_optimizer(
        params, PROJECT["optimizer"], args.lr, PROJECT["momentum"], PROJECT["weight_decay"]
    )
    start_epoch, history = 0, []
    if args.resume:
        state = torch.load(args.resume, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, history = state["epoch"], list(state.get("history", []))
    torch.manual_seed(args.seed + RANK)  # dropout masks differ between processes, as between batches
    # Targets in the loss's form, once; a reconstruction's are the inputs as the model scales them.
    if objective.reconstruct:
        model.to("cpu")
        y, y_val = recipe.input_targets(model, samples.x), recipe.input_targets(model, samples.x_val)
        model.to(device)
    else:
        y, y_val = objective.targets(samples.y), objective.targets(samples.y_val)
    net = (
        DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        if WORLD_SIZE > 1
        else model
    )
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if PROJECT["precision"] == "bf16" and device.type == "cuda"
        else nullcontext()
    )
    sizes = np.array([stop - start for start, stop in bounds], dtype=np.float32)

    out_dir = Path(args.out)
    if RANK == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
    log(
        f"{PROJECT['name']}: {n:,} training and {len(samples.x_val):,} validation samples from {args.data}, "
        f"{WORLD_SIZE} process(es) on {device.type}, global batch {args.batch_size} "
        f"({args.batch_size // WORLD_SIZE} per process), {len(bounds)} steps per epoch, {loss_kind} loss"
    )
    for epoch in range(start_epoch, args.epochs):
        started = time.perf_counter()
        lr = recipe.lr_at(PROJECT["schedule"], args.lr, epoch, args.epochs)
        for group in optimizer.param_groups:
            group["lr"] = lr
        # One order of the whole set, the same in every process; rank r takes slice r of every batch.
        order = recipe.epoch_order(n, args.seed, epoch)
        net.train()
        losses = torch.zeros(len(bounds), device=device)
        corrects = torch.zeros(len(bounds), device=device)
        for step, (start, stop) in enumerate(bounds):
            local = (stop - start) // WORLD_SIZE
            rows = order[start + RANK * local : start + (RANK + 1) * local]
            xb = samples.x[rows].to(device, non_blocking=True)
            yb = y[rows].to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            with autocast:
                out = recipe.first_output(net(xb))
                loss = objective.loss(out, yb)
            loss.backward()
            optimizer.step()
            losses[step] = loss.detach()
            correct = objective.correct(out.detach(), yb)
            if correct is not None:
                corrects[step] = correct
        if WORLD_SIZE > 1:
            dist.all_reduce(losses)
            dist.all_reduce(corrects)
            losses /= WORLD_SIZE
        losses_read = losses.float().cpu().numpy()
        bad = ~np.isfinite(losses_read)
        if bad.any():
            at = int(np.argmax(bad))
            where = f"at step {epoch * len(bounds) + at + 1} (epoch {epoch + 1})"
            fail(recipe.nonfinite_sentence("loss", float(losses_read[at]), where, lr))
        right = corrects.cpu().numpy() if objective.has_accuracy else None
        loss_sum, right_sum, seen = recipe.epoch_sums(losses_read, right, sizes)
        val_loss, val_acc = evaluate(
            model, samples.x_val, y_val, objective, device, recipe.eval_batch_size(args.batch_size)
        )
        if not math.isfinite(val_loss):
            where = f"after epoch {epoch + 1} (step {(epoch + 1) * len(bounds)})"
            fail(recipe.nonfinite_sentence("validation loss", val_loss, where, lr))
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": loss_sum / max(1, seen),
                "train_acc": right_sum / seen if objective.has_accuracy and seen else math.nan,
                "val_loss": val_loss,
                "val_acc": val_acc,
                "lr": lr,
            }
        )
        score = f"  val accuracy {val_acc:.3f}" if objective.has_accuracy else ""
        log(
            f"epoch {epoch + 1}/{args.epochs}  loss {history[-1]['train_loss']:.4f}  val loss {val_loss:.4f}"
            f"{score}  ({time.perf_counter() - started:.1f} s)"
        )
        if RANK == 0:
            atomic_save(
                {
                    "epoch": epoch + 1,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "history": history,
                },
                out_dir / "checkpoint.pt",
            )
            write_metrics(history, out_dir / "metrics.csv")
    if RANK == 0:
        atomic_save(model.state_dict(), out_dir / "weights.pt")
        log(f"Saved the trained weights to {out_dir / 'weights.pt'}.")
    if WORLD_SIZE > 1:
        # Every rank waits for rank 0's save before the group goes away.
        dist.barrier()
        dist.destroy_process_group()
    return history


if __name__ == "__main__":
    main()
    if WORLD_SIZE > 1:
        # Everything is saved and the process group is gone, but torch's C++ threads can still
        # be joinable when the interpreter tears down, which aborts the rank ("terminate called
        # without an active exception") and fails the whole torchrun. Leave without that teardown.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
