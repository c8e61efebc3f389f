"""The command line: ``nnbp demo`` (also ``python -m nnbp demo``)."""
import argparse
import sys
import time

import numpy as np

from nnbp.gradcheck import check_gradients
from nnbp.network import Network


def spirals(n_per_class=200, n_classes=3, noise=0.2, seed=0):
    """Interleaved 2-D spirals, one arm per class: a problem no linear model solves."""
    rng = np.random.default_rng(seed)
    radius = np.tile(np.linspace(0.05, 1.0, n_per_class), n_classes)
    labels = np.repeat(np.arange(n_classes), n_per_class)
    angle = 4.0 * radius + labels * (2 * np.pi / n_classes) + noise * rng.standard_normal(radius.size)
    X = np.column_stack([radius * np.sin(angle), radius * np.cos(angle)])
    return X, labels


def demo(args):
    """Verify the gradients of a small network, then train it by full-batch gradient descent."""
    dtype = np.dtype(args.dtype)
    X_all, y_all = spirals(seed=args.seed)
    order = np.random.default_rng(args.seed).permutation(X_all.shape[0])
    held_out, train = order[: X_all.shape[0] // 5], order[X_all.shape[0] // 5:]
    X, y = X_all[train], y_all[train]
    net = Network([2, 64, 64, 3], activation="tanh", output="softmax", dtype=dtype,
                  seed=args.seed)
    print(f"nnbp demo: {net}\n  data: 3 interleaved spirals in 2-D, {X.shape[0]} points to "
          f"train on, {held_out.size} held out\n")

    subset = np.random.default_rng(args.seed).choice(X.shape[0], 20, replace=False)
    report = check_gradients(net, X[subset], y[subset])
    print(report, end="\n\n")

    grad = np.empty_like(net.params)
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        loss, _ = net.loss_and_grad(X, y, out=grad)
        net.params -= args.learning_rate * grad     # W <- W - eta dL/dW
        if step == 1 or step % (args.steps // 10) == 0:
            print(f"  step {step:>5}  loss {loss:.4f}")
    seconds = time.perf_counter() - start
    def accuracy(rows):
        return np.mean(np.argmax(net.forward(X_all[rows]), axis=1) == y_all[rows])

    print(f"\n  {args.steps} full-batch gradient steps in {seconds:.2f} s "
          f"({1e3 * seconds / args.steps:.2f} ms a step)")
    print(f"  accuracy: training {accuracy(train):.1%}, held out {accuracy(held_out):.1%}")
    return 0 if report.passed else 1


def main(argv=None):
    parser = argparse.ArgumentParser(prog="nnbp", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help=demo.__doc__)
    demo_parser.add_argument("--steps", type=int, default=2000)
    demo_parser.add_argument("--learning-rate", type=float, default=0.5)
    demo_parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    demo_parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.steps < 10:
            parser.error("--steps must be at least 10")
        if not args.learning_rate > 0:
            parser.error("--learning-rate must be positive")
        return demo(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
