# Baselines the composer's test NLL is judged against, trained on the same transposed training pieces:
# each voice's unigram, and each voice's own trigram over time (interpolated with its bigram and unigram,
# weights chosen on the validation split). Tokens before a piece starts count as rests.
from __future__ import annotations

import numpy as np

from .tokens import REST, VOCAB

V = VOCAB


def _history(line: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pad = np.concatenate([[REST, REST], line])
    return pad[:-2], pad[1:-1]  # the token two steps back, one step back


class NGram:
    """Per-voice interpolated trigram; with weights (0, 0, 1) it is the per-voice unigram."""

    def __init__(self, grids: list[np.ndarray]):
        self.c1, self.c2, self.c3 = np.ones((4, V)), np.zeros((4, V * V)), np.zeros((4, V ** 3))  # add-one unigram
        for v in range(4):
            lines = [grid[:, v] for grid in grids]
            a, b = (np.concatenate(h) for h in zip(*map(_history, lines)))
            line = np.concatenate(lines)
            self.c1[v] += np.bincount(line, minlength=V)
            self.c2[v] += np.bincount(b * V + line, minlength=V * V)
            self.c3[v] += np.bincount((a * V + b) * V + line, minlength=V ** 3)
        self.weights = (0.0, 0.0, 1.0)

    def token_probs(self, grid: np.ndarray, weights: tuple[float, float, float]) -> np.ndarray:
        """(T, 4) probability of each token given its voice's two previous tokens."""
        w3, w2, w1 = weights
        out = np.empty(grid.shape)
        for v in range(4):
            line = grid[:, v]
            a, b = _history(line)
            p1 = self.c1[v][line] / self.c1[v].sum()
            ctx2 = self.c2[v].reshape(V, V).sum(1)[b]
            p2 = np.divide(self.c2[v][b * V + line], ctx2, out=np.zeros(len(line)), where=ctx2 > 0)
            ctx3 = self.c3[v].reshape(V * V, V).sum(1)[a * V + b]
            p3 = np.divide(self.c3[v][(a * V + b) * V + line], ctx3, out=np.zeros(len(line)), where=ctx3 > 0)
            # a context never seen gives its weight to the next lower order
            w3e = np.where(ctx3 > 0, w3, 0.0)
            w2e = np.where(ctx2 > 0, w2 + w3 - w3e, 0.0)
            out[:, v] = w3e * p3 + w2e * p2 + (1 - w3e - w2e) * p1
        return out

    def nll(self, grids: list[np.ndarray], weights: tuple[float, float, float] | None = None) -> float:
        """Mean negative log-likelihood, nats per token."""
        w = weights or self.weights
        return float(np.mean(np.concatenate([-np.log(self.token_probs(g, w)).ravel() for g in grids])))

    def fit_weights(self, valid: list[np.ndarray]) -> tuple[float, float, float]:
        # the unigram keeps some weight: a token never seen after its context must not get probability 0
        grid = [(w3, round(1 - w1 - w3, 2), w1) for w1 in (0.01, 0.03, 0.1, 0.2)
                for w3 in np.arange(0, 1 - w1 + 1e-9, 0.1)]
        best = min(grid, key=lambda w: self.nll(valid, w))
        self.weights = tuple(float(x) for x in best)
        return self.weights


UNIGRAM = (0.0, 0.0, 1.0)
