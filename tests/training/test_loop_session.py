"""The per-run state works from what it is given: no Trainer behind it.

A Session is built from a model, an optimizer, an objective, data, a config and
where the run starts, and gives back the epoch's layout and the steps; the
trainer's loop is one user of that interface.
"""

from __future__ import annotations

import math

import torch

from nnstudio.compiler.codegen import compile_graph
from nnstudio.training import recipe
from nnstudio.training.data import ModelIO, load_for_graph, resolve_loss
from nnstudio.training.events import History
from nnstudio.training.objective import Objective
from nnstudio.training.session import Session


def _session(graph, config, **start) -> tuple[Session, list[str]]:
    data = load_for_graph(graph, config)
    io = ModelIO.of(graph)
    torch.manual_seed(config.seed)
    model = compile_graph(graph)
    optimizer = recipe.make_optimizer(
        model.parameters(), config.optimizer, config.lr, config.momentum, config.weight_decay
    )
    said: list[str] = []
    session = Session(
        model=model,
        optimizer=optimizer,
        objective=Objective(resolve_loss(config.loss, data, io), data, io.output_shape),
        data=data,
        config=config,
        device=torch.device("cpu"),
        fast=False,
        batch_norm=recipe.has_batch_norm(model),
        step=start.get("step", 0),
        epoch_step=start.get("epoch_step", 0),
        history=History(),
        notify=said.append,
    )
    return session, said


def test_a_session_lays_out_the_epoch_and_trains_with_no_trainer(circles_graph, quick) -> None:
    config = quick(circles_graph, epochs=2)
    session, said = _session(circles_graph, config)
    n = session.n_train
    assert session.steps_per_epoch == math.ceil(n / 64) and session.total_steps == 2 * session.steps_per_epoch
    assert session.notices == [] and said == []
    session.set_lr(recipe.lr_at(config.schedule, config.lr, 0, config.epochs))
    assert session.optimizer.param_groups[0]["lr"] == config.lr
    losses = []
    for epoch in range(2):
        session.begin_epoch(epoch, epoch * session.steps_per_epoch, 0)
        order = recipe.epoch_order(n, config.seed, epoch)
        for index in session.epoch_batches(order):
            loss, correct = session.step_by_index(index)
            losses.append(float(loss))
            assert correct is not None and 0 <= int(correct) <= len(index)
    assert len(losses) == session.total_steps
    assert losses[-1] < losses[0]
    totals = recipe.evaluate(session.model, session.val_batches(), session.objective, session.device)
    val_loss, val_acc = recipe.mean_metrics(totals.tolist(), session.objective.has_accuracy)
    assert math.isfinite(val_loss) and 0.0 <= val_acc <= 1.0


def test_an_epoch_continued_mid_way_yields_only_its_remaining_steps(circles_graph, quick) -> None:
    config = quick(circles_graph, epochs=1)
    session, _ = _session(circles_graph, config)
    session.begin_epoch(0, 5, 5)
    order = recipe.epoch_order(session.n_train, config.seed, 0)
    rest = list(session.epoch_batches(order))
    assert len(rest) == session.steps_per_epoch - 5
    assert torch.equal(rest[0], order[5 * 64 : 6 * 64])
    assert session.epoch_start_step == 0
