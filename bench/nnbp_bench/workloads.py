"""The networks and data the benchmark times, and what their work costs in flops."""
from dataclasses import dataclass

import numpy as np

LEARNING_RATE = 1e-3       # small enough that repeated epochs on random data stay finite


@dataclass(frozen=True)
class Workload:
    """A network trained on `rows` random examples, at each of `batches` batch sizes."""

    name: str
    sizes: tuple
    output: str            # "softmax" (classes) or "squared" (regression)
    rows: int
    batches: tuple

    @property
    def label(self):
        return "-".join(map(str, self.sizes))

    def multiply_adds_per_row(self):
        """sum_l m_l m_{l-1}: the forward pass's multiply-adds for one row."""
        return sum(a * b for a, b in zip(self.sizes, self.sizes[1:]))

    def gradient_flops(self, rows):
        """Flops of the matrix products of one gradient on `rows` rows.

        Forward W x, backward dW = D^T X and dX = D W; no dX for the first
        layer: 2 rows (3 sum_l m_l m_{l-1} - m_1 m_0).
        """
        return 2 * rows * (3 * self.multiply_adds_per_row() - self.sizes[0] * self.sizes[1])

    def data(self, dtype, seed=0):
        """(X, y): standard normal features; labels for softmax, targets for squared."""
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((self.rows, self.sizes[0])).astype(dtype)
        if self.output == "softmax":
            return X, rng.integers(0, self.sizes[-1], self.rows)
        return X, rng.standard_normal((self.rows, self.sizes[-1])).astype(dtype)

    def shrunk(self, rows):
        """The same network on fewer rows, for a quick run: batches of rows or more become rows."""
        batches = tuple(sorted({min(b, rows) for b in self.batches}))
        return Workload(self.name, self.sizes, self.output, rows, batches)

MNIST_SHAPED = Workload("mnist-shaped", (784, 256, 128, 10), "softmax", 8192,
                        (1, 32, 256, 8192))
WORKLOADS = (
    MNIST_SHAPED,
    Workload("narrow-deep", (64,) + (64,) * 8 + (10,), "softmax", 8192, (32, 256)),
    Workload("wide-regression", (1000, 1024, 1024, 1), "squared", 2048, (32, 256)),
)
