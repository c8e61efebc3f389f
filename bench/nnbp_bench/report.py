"""The benchmark's results as Markdown tables, as the Benchmarks page renders them."""
from nnbp_bench import stages

FLOOR, NUMPY, TORCH, SKLEARN = "GEMMs alone", "NumPy MLP", "PyTorch", "scikit-learn"
NNBP, NNBP_ESTIMATOR = "nnbp", "nnbp estimator"


def _ms(times, name):
    return f"{1e3 * times[name]['seconds']:.1f}" if name in times else "-"


def _ratio(times, numerator, denominator):
    if numerator not in times or denominator not in times:
        return "-"
    return f"{times[numerator]['seconds'] / times[denominator]['seconds']:.2f}"


def _rate(row, peak):
    """(GFLOP/s, percent of the GEMM peak) of nnbp on the row's matrix products."""
    gflops = row["flops"] / row["times"][NNBP]["seconds"] / 1e9
    return f"{gflops:.0f}", f"{100 * gflops / peak:.0f}%"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def markdown(results):
    machine, peak = results["machine"], results["peak_gflops"]
    parts = [
        f"nnbp {machine['nnbp']} on {machine['processor']}: Python {machine['python']}, "
        f"NumPy {machine['numpy']}, SciPy {machine['scipy']}, PyTorch {machine['torch'] or '-'}, "
        f"scikit-learn {machine['sklearn'] or '-'}. Medians of {results['repeats']}; "
        "peers on their best BLAS threading. GEMM peak: "
        + ", ".join(f"{gflops:.0f} GFLOP/s ({dtype})" for dtype, gflops in peak.items()),
        "One epoch of plain SGD, milliseconds. nnbp/floor: nnbp over the GEMMs alone; "
        "PyTorch/nnbp and scikit-learn/nnbp: how many times faster nnbp is (the "
        "scikit-learn ratio against nnbp's estimator, at equal hyperparameters).",
        table(["network", "dtype", "batch", "GEMMs alone", "NumPy MLP", "PyTorch",
               "scikit-learn", "nnbp", "nnbp estimator", "nnbp / floor", "PyTorch / nnbp",
               "scikit-learn / nnbp", "GFLOP/s", "of peak"],
              [[row["sizes"], row["dtype"], row["batch"]]
               + [_ms(row["times"], name) for name in (FLOOR, NUMPY, TORCH, SKLEARN, NNBP,
                                                         NNBP_ESTIMATOR)]
               + [_ratio(row["times"], NNBP, FLOOR), _ratio(row["times"], TORCH, NNBP),
                  _ratio(row["times"], SKLEARN, NNBP_ESTIMATOR)]
               + list(_rate(row, peak[row["dtype"]]))
               for row in results["epoch"]]),
        "One loss and gradient on all the rows, milliseconds.",
        table(["network", "dtype", "rows", "GEMMs alone", "NumPy MLP", "PyTorch", "nnbp",
               "nnbp / floor", "PyTorch / nnbp", "GFLOP/s", "of peak"],
              [[row["sizes"], row["dtype"], row["rows"]]
               + [_ms(row["times"], name) for name in (FLOOR, NUMPY, TORCH, NNBP)]
               + [_ratio(row["times"], NNBP, FLOOR), _ratio(row["times"], TORCH, NNBP)]
               + list(_rate(row, peak[row["dtype"]]))
               for row in results["gradient"]]),
    ]
    if results["predict"]:
        names = list(results["predict"][0]["seconds"])
        parts += [
            f"Predicting one row of {results['predict'][0]['sizes']}, microseconds "
            "(nnbp: Network.forward; estimators: predict_proba).",
            table(["dtype"] + names,
                  [[row["dtype"]] + [f"{1e6 * row['seconds'][name]:.1f}" for name in names]
                   for row in results["predict"]]),
        ]
    if results.get("one_row"):
        names = list(results["one_row"][0]["seconds"])
        parts += [
            f"One row of {results['one_row'][0]['sizes']}, microseconds: the floor (NumPy's "
            "chain of one-row products, x @ W.T + b and the activation, on one BLAS thread), "
            "repeated and after 50 ms idle; Network.forward, repeated and after 50 ms idle, "
            "the same through BLAS's gemm, "
            "and the estimator's predict_proba.",
            table(["dtype"] + names + ["forward / floor", "after idle / repeated",
                                       "predict_proba / forward"],
                  [[row["dtype"]] + [f"{1e6 * row['seconds'][name]:.1f}" for name in names]
                   + [f"{row['forward_over_floor']:.2f}", f"{row['idle_over_repeated']:.2f}",
                      f"{row['predict_over_forward']:.2f}"]
                   for row in results["one_row"]]),
        ]
    if results.get("batch_one"):
        names = list(results["batch_one"][0]["microseconds_per_step"])
        first = results["batch_one"][0]
        parts += [
            f"An epoch of per-example SGD (batch 1) of {first['sizes']} on {first['rows']} "
            "rows, microseconds per step: the floor (the same products by scipy.linalg.blas "
            "gemv and ger in a loop) and nnbp; passes over the parameters per step.",
            table(["dtype"] + names + ["nnbp / floor", "passes: nnbp", "passes: floor"],
                  [[row["dtype"]]
                   + [f"{row['microseconds_per_step'][name]:.1f}" for name in names]
                   + [f"{row['nnbp_over_floor']:.2f}", f"{row['passes_per_step']['nnbp']:.2f}",
                      f"{row['passes_per_step']['floor']:.2f}"]
                   for row in results["batch_one"]]),
        ]
    if results["activations"]:
        names = list(results["activations"][0]["ratio_to_floor"])
        parts += [
            f"One loss and gradient of {results['activations'][0]['sizes']} on "
            f"{results['activations'][0]['rows']} rows, by hidden activation: nnbp over "
            "the GEMMs alone.",
            table(["dtype"] + names,
                  [[row["dtype"]] + [f"{row['ratio_to_floor'][name]:.2f}" for name in names]
                   for row in results["activations"]]),
        ]
    if results.get("stages"):
        first = results["stages"][0]
        names = list(first["stage_seconds"])
        parts += [
            f"An epoch of {first['sizes']} on {first['rows']} rows through the estimator's "
            "partial_fit (shuffle=False), against the compiled epoch on the same batches "
            "(nnbp._core.train_epoch alone) and StochasticTrainer.fit, milliseconds; then "
            "partial_fit taken apart, each stage's share of it under cProfile (which slows "
            "the Python stages only: their shares are upper bounds).",
            table(["dtype", "batch", "compiled epoch", "StochasticTrainer.fit", "partial_fit",
                   "partial_fit / compiled"] + names,
                  [[row["dtype"], row["batch"]]
                   + [f"{1e3 * row['seconds'][name]:.1f}" for name in (
                       stages.COMPILED, stages.TRAINER, stages.ESTIMATOR)]
                   + [f"{row['estimator_over_compiled']:.3f}"]
                   + [f"{100 * row['stage_seconds'][name] / row['profiled_seconds']:.1f}%"
                      for name in names]
                   for row in results["stages"]]),
        ]
    if results["fits"]:
        parts += [
            "Whole fits of MLPClassifier at equal hyperparameters (learning_rate_init=0.01, "
            "random_state=0), seconds.",
            table(["data", "hidden", "solver", "batch", "epochs", "scikit-learn", "nnbp",
                   "speed-up"],
                  [[row["data"], tuple(row["hidden"]), row["solver"], row["batch"],
                    row["epochs"], f"{row['seconds']['scikit-learn']:.3f}",
                    f"{row['seconds']['nnbp']:.3f}", f"{row['speedup']:.1f}x"]
                   for row in results["fits"]]),
        ]
    if results.get("default_fits"):
        peak = results["peak_gflops"].get("float64")
        parts += [
            "Whole fits at scikit-learn's defaults (random_state=0 alone), standardised "
            "features, seconds; both libraries' epochs and final loss, which show the same "
            "path; and nnbp's microseconds per step (a minibatch of at most 200 rows, or an "
            "L-BFGS iteration on all of them) beside that step's matrix products at the "
            "float64 GEMM peak.",
            table(["data", "estimator", "solver", "scikit-learn", "nnbp", "speed-up",
                   "epochs", "loss: scikit-learn", "loss: nnbp", "us per step",
                   "its products at peak, us"],
                  [[row["data"], row["estimator"], row["solver"],
                    f"{row['seconds']['scikit-learn']:.3f}", f"{row['seconds']['nnbp']:.3f}",
                    f"{row['speedup']:.1f}x",
                    f"{row['epochs']['scikit-learn']} / {row['epochs']['nnbp']}",
                    f"{row['loss']['scikit-learn']:.6g}", f"{row['loss']['nnbp']:.6g}",
                    f"{1e6 * row['seconds']['nnbp'] / row['steps']['nnbp']:.1f}",
                    f"{row['flops_per_step'] / peak / 1e3:.2f}" if peak else "-"]
                   for row in results["default_fits"]]),
        ]
    if results.get("scaling"):
        parts += [
            "nnbp's own threads: one epoch of plain SGD on one thread and on a team, "
            "milliseconds, and the speed-up.",
            table(["network", "dtype", "batch", "1 thread", "team", "threads", "speed-up"],
                  [[row["sizes"], row["dtype"], row["batch"], f"{1e3 * row['seconds_one']:.1f}",
                    f"{1e3 * row['seconds_team']:.1f}", row["threads"],
                    f"{row['speedup']:.2f}x"]
                   for row in results["scaling"]]),
        ]
    if results.get("layout"):
        names = list(results["layout"][0]["microseconds"])
        parts += [
            "The first layer's forward product (256 x 784) on one BLAS thread, microseconds: "
            "W as nnbp keeps it, a transposed copy, and the transposition that would keep "
            "the copy in step each step.",
            table(["dtype", "batch"] + names,
                  [[row["dtype"], row["batch"]]
                   + [f"{row['microseconds'][name]:.1f}" for name in names]
                   for row in results["layout"]]),
        ]
    if results.get("torch_fit"):
        fit = results["torch_fit"]
        parts += [
            "A whole fit, MLPClassifier against PyTorch's same recipe: 8,000 rows of 784 "
            "float32 features, 10 classes, (256, 128) hidden, SGD with Nesterov momentum "
            "0.9, batch 64, 10 epochs; seconds and held-out accuracy (2,000 rows).",
            table(["", "seconds", "held-out accuracy"],
                  [[name, f"{fit[name]['seconds']:.2f}", f"{100 * fit[name]['accuracy']:.1f}%"]
                   for name in ("nnbp", "PyTorch")]
                  + [["nnbp / PyTorch", f"{fit['ratio']:.2f}", ""]]),
        ]
    if results.get("torch_fits"):
        parts += [
            "Whole fits against PyTorch's same recipe: 10 classes of 784 float32 features, "
            "Adam at scikit-learn's defaults with its L2 penalty and initial bounds, batch "
            "128; seconds and held-out accuracy.",
            table(["network", "rows", "epochs", "nnbp", "PyTorch", "nnbp / PyTorch",
                   "accuracy: nnbp", "accuracy: PyTorch"],
                  [[row["sizes"], row["rows"], row["epochs"], f"{row['nnbp']['seconds']:.2f}",
                    f"{row['PyTorch']['seconds']:.2f}", f"{row['ratio']:.2f}",
                    f"{100 * row['nnbp']['accuracy']:.1f}%",
                    f"{100 * row['PyTorch']['accuracy']:.1f}%"]
                   for row in results["torch_fits"]]),
        ]
    if results.get("threads"):
        ways = list(results["threads"][0]["seconds"])
        parts += [
            "Two networks trained at once: one epoch of each, milliseconds. The compiled "
            "epoch releases the GIL, so two Python threads train on the two cores together; "
            "speed-up: one after the other (1 BLAS thread) over at once.",
            table(["network", "dtype", "batch"] + ways + ["speed-up"],
                  [[row["sizes"], row["dtype"], row["batch"]]
                   + [f"{1e3 * row['seconds'][way]:.1f}" for way in ways]
                   + [f"{row['speedup']:.2f}x"]
                   for row in results["threads"]]),
        ]
    if results["memory"]:
        mib = 2 ** 20
        parts += [
            "Peak memory of fit (one shuffled epoch, the network made inside the fit), MiB, "
            "against the budget: data + 4 x parameters + workspaces. Parameter copies: "
            "what fit allocated beyond the workspaces, in parameter vectors.",
            table(["network", "fit", "dtype", "batch", "optimizer", "data", "parameters",
                   "workspaces", "peak", "budget", "parameter copies"],
                  [[row["sizes"], row["fit"], row["dtype"], row["batch"], row["optimizer"]]
                   + [f"{row[key] / mib:.2f}" for key in ("data_bytes", "params_bytes",
                                                           "workspace_bytes", "peak_bytes",
                                                           "budget_bytes")]
                   + [f"{row['params_copies']:.1f}"]
                   for row in results["memory"]]),
        ]
    return "\n\n".join(parts) + "\n"
