"""A reader's taste learnt from their feedback: one logistic regression per reader on the
paper embeddings (as Scholar Inbox does; arxiv-sanity fits an SVM the same way), all readers
fitted at once in the planning batch.

Positives are the papers a reader liked, negatives the ones they marked "less like this" and,
with a small total weight, a sample of the day's papers: what they did not single out is
mildly less their taste, which keeps a reader with likes only from liking everything. The
losses of different readers share no parameters, so one optimiser over the stacked (S, D + 1)
weights fits each of them exactly as alone, in batched matrix work on the ranking device.

Pure module (no Django).
"""

import torch

# Total weight of the background sample in a reader's loss, against 1 per own example.
BACKGROUND_WEIGHT = 1.0
L2 = 1e-2
STEPS = 150
LEARNING_RATE = 0.1


def fit_tastes(
    *,
    examples: torch.Tensor,
    liked: torch.Tensor,
    owners: torch.Tensor,
    background: torch.Tensor,
    readers: int,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """(readers, D + 1) logistic weights and bias per reader, on the CPU.

    examples (E, D): unit vectors of papers with feedback; liked (E,) bool; owners (E,) the
    reader row of each; background (B, D): papers nobody gave feedback on, shared by all."""
    device = torch.device(device)
    examples = examples.to(device, torch.float32)
    target = liked.to(device, torch.float32)
    owners = owners.to(device, torch.int64)
    background = background.to(device, torch.float32)
    counts = torch.bincount(owners, minlength=readers).clamp_min(1).to(torch.float32)
    weights = torch.zeros((readers, examples.shape[1] + 1), device=device, requires_grad=True)
    optimiser = torch.optim.Adam([weights], lr=LEARNING_RATE)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    with torch.enable_grad():
        for _ in range(STEPS):
            optimiser.zero_grad()
            own = (weights[owners, :-1] * examples).sum(dim=1) + weights[owners, -1]
            own_loss = bce(own, target, reduction="none") / counts[owners]
            loss = own_loss.sum()
            if len(background):
                logits = weights[:, :-1] @ background.T + weights[:, -1:]
                loss = (
                    loss
                    + BACKGROUND_WEIGHT
                    * bce(logits, torch.zeros_like(logits), reduction="none").mean(dim=1).sum()
                )
            loss = loss + L2 / 2 * (weights[:, :-1] ** 2).sum()
            loss.backward()
            optimiser.step()
    return weights.detach().cpu()
