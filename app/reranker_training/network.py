"""The model and its training loop: fine-tuning the e5
cross-encoder on the groups, and saving it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from app.reranker import WEIGHTS_NAME, build_network, encode_pair, pad
from app.reranker_training.data import SEED
from app.reranker_training.negatives import Group


def _group_order(n_groups: int, epochs: float, rng: random.Random) -> list[int]:
    """The groups' indices for ``epochs`` passes, each whole pass shuffled anew by ``rng``."""
    total = int(round(epochs * n_groups))
    order: list[int] = []
    while len(order) < total:
        epoch = list(range(n_groups))
        rng.shuffle(epoch)
        order += epoch
    return order[:total]


def _optimiser(net, lr: float, head_lr: float, steps: int) -> tuple[Any, Any]:
    """AdamW (the e5 layers at ``lr``, the head at ``head_lr``) and its schedule.

    The schedule warms up linearly over the first tenth of the ``steps``, then decays linearly.
    """
    import torch

    params = [
        {"params": net.layers.parameters(), "lr": lr},
        {"params": net.head.parameters(), "lr": head_lr},
    ]
    opt = torch.optim.AdamW(params, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, steps // 10)) * max(0.0, 1 - s / steps)
    )
    return opt, sched


def _batch_loss(net, base, tokenizer, chunk: Sequence[Group], max_length: int):
    """Listwise softmax over each group (positive first) plus pointwise BCE, for one batch."""
    import torch

    seqs, sizes = [], []
    for g in chunk:
        texts = [g.positive, *g.negatives]
        seqs += [encode_pair(tokenizer, g.question, t, max_length, g.language) for t in texts]
        sizes.append(len(texts))
    ids, mask = pad(seqs, tokenizer.pad)
    with torch.no_grad():
        hidden = base.embeddings(input_ids=ids)
    logits = net(hidden, mask)
    labels = torch.zeros_like(logits)
    list_loss, at = 0.0, 0
    for n in sizes:
        labels[at] = 1.0
        list_loss = list_loss + torch.nn.functional.cross_entropy(
            logits[at : at + n][None], torch.zeros(1, dtype=torch.long)
        )
        at += n
    return list_loss / len(sizes) + torch.nn.functional.binary_cross_entropy_with_logits(
        logits, labels
    )


def _mean_recent(losses: Sequence[float]) -> float:
    """The mean of the last 20 losses (0 before the first)."""
    return sum(losses[-20:]) / max(1, len(losses[-20:]))


def train_network(
    groups: Sequence[Group],
    *,
    depth: int = 4,
    max_length: int = 128,
    epochs: float = 1.0,
    batch: int = 8,
    lr: float = 5e-5,
    head_lr: float = 1e-3,
    seed: int = SEED,
    threads: int | None = None,
    max_minutes: float | None = None,
    base=None,
    tokenizer=None,
    log: Callable[[str], None] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Fine-tune e5's first ``depth`` layers + a head: listwise softmax
    over each group plus pointwise BCE.
    """
    import torch

    from core.e5 import load_e5

    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    if base is None:
        loaded = load_e5()
        base, tokenizer = loaded.model, loaded.tokenizer
    net = build_network(base, depth)
    net.train()
    order = _group_order(len(groups), epochs, random.Random(seed))
    steps = max(1, (len(order) + batch - 1) // batch)
    opt, sched = _optimiser(net, lr, head_lr, steps)
    start = time.perf_counter()
    done, losses, stopped = 0, [], False
    for step in range(steps):
        chunk = [groups[i] for i in order[step * batch : (step + 1) * batch]]
        loss = _batch_loss(net, base, tokenizer, chunk, max_length)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        done += len(chunk)
        losses.append(loss.item())
        if log is not None and (step % 20 == 0 or step == steps - 1):
            log(
                f"step {step + 1}/{steps} loss {_mean_recent(losses):.4f} "
                f"{time.perf_counter() - start:.0f}s"
            )
        if max_minutes is not None and time.perf_counter() - start > 60 * max_minutes:
            stopped = True
            break
    net.eval()
    info = {
        "steps": step + 1,
        "planned_steps": steps,
        "groups_seen": done,
        "stopped_by_time": stopped,
        "seconds": round(time.perf_counter() - start, 1),
        "final_loss": round(_mean_recent(losses), 4),
    }
    return net, info


def save_weights(net, out: Path) -> Path:
    """fp16 safetensors of the network."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{WEIGHTS_NAME}.safetensors"
    save_file({k: v.detach().half().contiguous() for k, v in net.state_dict().items()}, str(path))
    return path
