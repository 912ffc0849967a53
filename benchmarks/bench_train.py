"""Training throughput: calspike.training.fit against the plain PyTorch loop a user would write.

The peer is the usual recipe: a DataLoader over a TensorDataset (shuffled, same batch
size) feeding the same model, the same AdamW optimiser, gradient clipping and loss.
Both train the same number of windows; the first epoch of each is a warm-up and is not
timed. Prints windows/s of both and their ratio.

    python benchmarks/bench_train.py                       # CPU, batches 256 and 1024
    python benchmarks/bench_train.py --device cuda --batch 1024 8192 --windows 400000
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from calspike.models import CalciumVAE, SpikeClassifier
from calspike.training import choose_device, fit


def make_model(kind: str, length: int) -> nn.Module:
    torch.manual_seed(0)
    return SpikeClassifier(channels=1) if kind == "classifier" else CalciumVAE(length=length)


def calspike_rate(
    kind: str, x: np.ndarray, y: np.ndarray, batch: int, epochs: int, device: str
) -> float:
    model = make_model(kind, x.shape[1])
    result = fit(
        model,
        x,
        y if kind == "classifier" else None,
        epochs=epochs + 1,
        batch_size=batch,
        schedule="constant",
        patience=None,
        device=device,
        progress=False,
    )
    seconds = sum(record["seconds"] for record in result.history[1:])
    return len(x) * epochs / seconds


def dataloader_rate(
    kind: str, x: np.ndarray, y: np.ndarray, batch: int, epochs: int, device: str
) -> float:
    target = choose_device(device)
    model = make_model(kind, x.shape[1]).to(target)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    dataset = torch.utils.data.TensorDataset(
        torch.from_numpy(x), torch.from_numpy(y.astype(np.float32))
    )
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch, shuffle=True, pin_memory=target.type == "cuda"
    )
    seconds = 0.0
    for epoch in range(epochs + 1):
        start = time.perf_counter()
        for bx, by in loader:
            bx, by = bx.to(target, non_blocking=True), by.to(target, non_blocking=True)
            if kind == "classifier":
                loss = nn.functional.binary_cross_entropy_with_logits(model(bx), by)
            else:
                reconstruction, mean, log_var = model(bx)
                kl = -0.5 * (1 + log_var - mean**2 - log_var.exp()).sum(dim=1).mean()
                loss = ((reconstruction - bx[..., 0]) ** 2).mean() + 1e-4 * kl
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
        if target.type == "cuda":
            torch.cuda.synchronize()
        if epoch > 0:
            seconds += time.perf_counter() - start
    return len(x) * epochs / seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--windows", type=int, default=40_960, help="windows per epoch")
    parser.add_argument(
        "--epochs", type=int, default=2, help="timed epochs (after one warm-up epoch)"
    )
    parser.add_argument(
        "--models", nargs="+", default=["classifier", "vae"], choices=["classifier", "vae"]
    )
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.windows, 20, 1)).astype(np.float32)
    y = rng.random(args.windows) > 0.5
    device = str(choose_device(args.device))
    print(
        f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
        f"{args.windows:,} windows (20 frames, 1 channel) per epoch, {args.epochs} timed epochs"
    )
    print(
        f"{'model':<11} {'batch':>6} {'calspike (win/s)':>17} "
        f"{'DataLoader (win/s)':>19} {'ratio':>6}"
    )
    for kind in args.models:
        for batch in args.batch:
            ours = calspike_rate(kind, x, y, batch, args.epochs, device)
            peer = dataloader_rate(kind, x, y, batch, args.epochs, device)
            print(
                f"{kind:<11} {batch:>6} {ours:>17,.0f} {peer:>19,.0f} {ours / peer:>5.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
