"""The command line: ``nnbp demo`` and ``nnbp bench`` (also ``python -m nnbp ...``)."""
import argparse
import sys
import time

import numpy as np

from nnbp.datasets import load_digits
from nnbp.gradcheck import check_gradients
from nnbp.network import Network
from nnbp.optim import Adam
from nnbp.training import StochasticTrainer


def held_out_split(n, fraction, seed):
    """(train, held_out) row indices: a seeded random fraction held out."""
    order = np.random.default_rng(seed).permutation(n)
    n_held_out = int(round(fraction * n))
    return order[n_held_out:], order[:n_held_out]


def demo(args):
    """Verify a network's gradients, then train it on the UCI handwritten digits."""
    dtype = np.dtype(args.dtype)
    X, y = load_digits(dtype)
    X /= 16                                   # pixels 0..16 to 0..1
    train, held_out = held_out_split(X.shape[0], 0.2, args.seed)
    net = Network([64, args.hidden, 10], activation="relu", output="softmax", dtype=dtype,
                  alpha=1e-4, seed=args.seed)
    print(f"nnbp demo: {net}\n  data: UCI handwritten digits, 8x8 images, "
          f"{train.size} to train on, {held_out.size} held out\n")

    print(check_gradients(net, X[train[:20]], y[train[:20]]), end="\n\n")

    def accuracy(rows):
        return np.mean(np.argmax(net.forward(X[rows]), axis=1) == y[rows])

    def progress(trainer):
        print(f"  epoch {trainer.n_iter:>3}/{args.epochs}  loss {trainer.loss:.4f}  "
              f"held-out accuracy {accuracy(held_out):.1%}")

    trainer = StochasticTrainer(net, Adam(learning_rate=args.learning_rate),
                                batch_size=args.batch_size,
                                random_state=np.random.default_rng(args.seed),
                                n_iter_no_change=np.inf)
    start = time.perf_counter()
    trainer.fit(X[train], y[train], max_epochs=args.epochs, on_epoch=progress)
    seconds = time.perf_counter() - start
    print(f"\n  {args.epochs} epochs of Adam (batch {args.batch_size}) in {seconds:.2f} s, "
          "scoring included")
    print(f"  accuracy: training {accuracy(train):.1%}, held out {accuracy(held_out):.1%}")
    return 0


def positive(kind):
    def parse(text):
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return parse


def main(argv=None):
    parser = argparse.ArgumentParser(prog="nnbp", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help=demo.__doc__)
    demo_parser.add_argument("--epochs", type=positive(int), default=30)
    demo_parser.add_argument("--hidden", type=positive(int), default=64,
                             help="width of the hidden layer")
    demo_parser.add_argument("--batch-size", type=positive(int), default=32)
    demo_parser.add_argument("--learning-rate", type=positive(float), default=0.01)
    demo_parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    demo_parser.add_argument("--seed", type=int, default=0)
    commands.add_parser("bench", add_help=False,
                        help="time nnbp against its GEMM floor, NumPy, PyTorch and "
                             "scikit-learn (nnbp bench --help)")
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        from nnbp.benchmark import main as bench
        return bench(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return demo(args)


if __name__ == "__main__":
    sys.exit(main())
