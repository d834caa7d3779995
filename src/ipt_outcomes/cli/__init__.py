"""The ``ipt-outcomes`` command line (SPEC "Command line").

Exit status: 0 success; 1 invalid data or failed analysis (one clear message per problem, no
traceback unless ``--debug``); 2 usage error. Outputs are staged and moved into place only when
the whole command succeeded; Ctrl-C and SIGTERM leave nothing behind.

Each command lives in its own module, imported only when that command runs, so ``--help`` does
not load the numerical libraries.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import os
import re
import signal
import sys

from ..constants import (
    ADJUSTED_VARIANCES,
    CI_METHODS,
    COVARIANCE_STRUCTURES,
    DF_METHODS,
    MAX_SIMULATED_MONTHS,
    MI_METHODS,
    MI_RESAMPLING,
    MI_STRATEGIES,
    MISSING_RULES,
    REPORT_FORMATS,
)
from .options import (
    add_data_options,
    add_out,
    alpha,
    at_least,
    finite,
    nonempty_name,
    nonnegative,
    path_text,
    positive,
    positive_int,
    probability,
)

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # "-1,5" or "-1e3" is a (wrong) value to range-check, not an unknown option
        self._negative_number_matcher = re.compile(r"^-\d[\d,.eE+-]*$|^-\.\d[\d,.eE+-]*$")

    def error(self, message):  # usage errors: exit 2 with the usage line, as argparse does
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _visits(text: str) -> list[float]:
    try:
        out = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"visits must be numbers separated by commas, got {text!r}"
        ) from None
    if not all(math.isfinite(v) for v in out):
        raise argparse.ArgumentTypeError(f"visits must be finite numbers, got {text!r}")
    if not out or out[0] != 0 or any(b <= a for a, b in zip(out, out[1:], strict=False)):
        raise argparse.ArgumentTypeError("visits must start at 0 and increase, e.g. 0,1.5,3,6,12")
    if len(out) < 2:
        raise argparse.ArgumentTypeError(
            f"visits need baseline 0 and at least one follow-up visit, e.g. 0,3; got {text!r}"
        )
    if out[-1] > MAX_SIMULATED_MONTHS:
        raise argparse.ArgumentTypeError(
            f"visits are months from randomisation, at most {MAX_SIMULATED_MONTHS:g}; got {text!r}"
        )
    return out


def _pair(text):
    from .appraisal import pair

    return pair(text, maximum=MAX_FRAGILITY_PER_ARM)


def _totals(text):
    from .appraisal import pair

    return pair(text, minimum=1, maximum=MAX_FRAGILITY_PER_ARM)


def _rates(text):
    from .power import rates

    return rates(text)


def _formats(text: str) -> list[str]:
    out = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in out if f not in REPORT_FORMATS]
    if bad or not out:
        raise argparse.ArgumentTypeError(
            f"formats are a comma-separated list of {', '.join(REPORT_FORMATS)}; got {text!r}"
        )
    return out


def _percent(text: str) -> float:
    v = finite(text)
    if not 0 <= v <= 100:
        raise argparse.ArgumentTypeError(f"a percentage must be between 0 and 100, got {text}")
    return v


#: Upper limits that keep a run within a workstation's memory: a simulated trial of 50,000 per
#: arm is about a million rows; exact power enumerates (n + 1)^2 outcomes per n.
MAX_SIMULATED_PER_ARM = 50_000
MAX_POWER_PER_ARM = 5_000
MAX_SIMS = 10_000_000
#: The fragility index changes one outcome at a time (a Fisher test each); GRIM enumerates k.
MAX_FRAGILITY_PER_ARM = 100_000
MAX_GRIM_N = 100_000
#: Local worker processes: more than a few per core only costs memory.
MAX_WORKERS = max(4, 4 * (os.cpu_count() or 1))


def _cmd(name: str) -> str:
    return f"ipt_outcomes.cli.{name}"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ipt-outcomes",
        description="Outcomes research and trial analysis for depression psychotherapy trials.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("validate", help="check a score file against the data contract")
    p.add_argument("file", type=path_text, metavar="FILE")
    add_data_options(p)
    p.set_defaults(handler=(_cmd("validate"), "run"))

    p = sub.add_parser("design", help="write a starter design file inferred from a score file")
    p.add_argument("file", type=path_text, metavar="FILE")
    p.add_argument("--out", required=True, type=path_text, metavar="FILE.toml",
                   help="design file to write")  # fmt: skip
    add_data_options(p)
    p.set_defaults(handler=(_cmd("design"), "run"))

    p = sub.add_parser("simulate", help="write the calibrated synthetic trial")
    p.add_argument(
        "--seed", type=at_least(0), required=True, help="seed (the project's trial uses 2016)"
    )
    p.add_argument("--out", required=True, type=path_text, metavar="FILE", help="CSV file to write")
    p.add_argument("--calibration", type=path_text, metavar="FILE",
                   help="also write the calibration table as CSV")  # fmt: skip
    p.add_argument("--n-per-arm", type=at_least(2, MAX_SIMULATED_PER_ARM), metavar="N",
                   help="scaled trial: N randomised per arm (2 to 50,000)")  # fmt: skip
    p.add_argument(
        "--visits", type=_visits, metavar="V,V,...", help="visit schedule in months (from 0)"
    )
    p.add_argument(
        "--no-modelled-arm", action="store_true", help="leave out the modelled IPT+MED arm"
    )
    p.add_argument("--quiet", action="store_true", help="do not print the calibration table")
    p.set_defaults(handler=(_cmd("simulate"), "run"))

    p = sub.add_parser("response", help="response and remission rates and comparisons")
    p.add_argument("file", type=path_text, metavar="FILE")
    p.add_argument("--missing", choices=MISSING_RULES, default="observed",
                   help="missing-data rule (default observed)")  # fmt: skip
    add_out(p)
    p.add_argument("--ci", choices=CI_METHODS, default="wilson", help="interval of a rate")
    p.add_argument("--rd-method", choices=("newcombe", "miettinen-nurminen"), default="newcombe",
                   help="interval of the risk difference")  # fmt: skip
    p.add_argument("--alpha", type=alpha, default=0.05, help="1 - confidence level (default 0.05)")
    g = p.add_argument_group("covariate adjustment (marginal effects by g-computation, FDA 2023)")
    g.add_argument("--adjust", action="append", type=nonempty_name, metavar="COL",
                   help="adjust for a baseline covariate: 'baseline' (the baseline score) or a "
                        "column (repeatable); writes response_adjusted.csv")  # fmt: skip
    g.add_argument("--variance", choices=ADJUSTED_VARIANCES, default="ge",
                   help="ge: Ge et al. 2011 (delta method, HC0 sandwich); ye: Ye et al. 2023")  # fmt: skip
    g.add_argument("--strata", action="append", type=nonempty_name, metavar="COL",
                   help="randomisation strata for --variance ye (repeatable)")  # fmt: skip
    add_data_options(p)
    p.set_defaults(handler=(_cmd("response"), "run"))

    p = sub.add_parser("mmrm", help="mixed model for repeated measures on change from baseline")
    p.add_argument("file", type=path_text, metavar="FILE")
    p.add_argument("--df", choices=DF_METHODS, default="kenward-roger",
                   help="degrees of freedom (default kenward-roger)")  # fmt: skip
    p.add_argument("--covariance", choices=COVARIANCE_STRUCTURES, default="us",
                   help="within-subject covariance (default us)")  # fmt: skip
    p.add_argument(
        "--method", choices=["reml", "ml"], default="reml", help="estimation (default reml)"
    )
    p.add_argument(
        "--covariate",
        action="append",
        type=nonempty_name,
        metavar="COL",
        help="extra fixed effect (repeatable)",
    )
    p.add_argument("--group-by-arm", action="store_true", help="one covariance matrix per arm")
    p.add_argument("--no-fallback", action="store_true",
                   help="fail instead of falling back to a simpler covariance")  # fmt: skip
    p.add_argument("--alpha", type=alpha, default=0.05, help="1 - confidence level (default 0.05)")
    add_out(p)
    add_data_options(p)
    p.set_defaults(handler=(_cmd("mmrm"), "run"))

    p = sub.add_parser("lmm", help="linear mixed model (growth curve) on all scores")
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "--method", choices=["reml", "ml"], default="reml", help="estimation (default reml)"
    )
    p.add_argument("--random-slope", action="store_true", help="random slope of time per subject")
    p.add_argument("--quadratic", action="store_true", help="add time^2 and arm x time^2")
    p.add_argument("--df", choices=("satterthwaite", "kenward-roger"), default="satterthwaite",
                   help="df of the fixed effects: satterthwaite (lmerTest, default) or "
                        "kenward-roger (pbkrtest: adjusted SE; needs --method reml)")  # fmt: skip
    p.add_argument("--group-arm", metavar="ARM",
                   help="arm treated in therapy groups (default: the arm with a therapy_group column)")  # fmt: skip
    add_out(p)
    add_data_options(p)
    p.set_defaults(handler=(_cmd("lmm"), "run"))

    p = sub.add_parser(
        "mi", help="estimands: reference-based multiple imputation and the tipping point"
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument("--strategy", choices=MI_STRATEGIES, default="MAR",
                   help="how a dropout without an events row is imputed (default MAR)")  # fmt: skip
    p.add_argument("--events", metavar="FILE",
                   help="intercurrent events: subject_id, visit (first visit affected), strategy")  # fmt: skip
    p.add_argument("--method", choices=(*MI_METHODS, "mvn"), default="condmean",
                   help="condmean (default), approxbayes, bayes; mvn: the MAR-only MVN data "
                        "augmentation of one arm (mi_pooled.csv)")  # fmt: skip
    p.add_argument("--resampling", choices=MI_RESAMPLING, default="jackknife",
                   help="standard errors of condmean (default jackknife)")  # fmt: skip
    p.add_argument("--delta", type=finite, metavar="D",
                   help="points added to imputed post-event scores of the non-reference arms")  # fmt: skip
    p.add_argument("--variance", choices=("resampling", "information-anchored"),
                   default="resampling", help="condmean variance (default resampling)")  # fmt: skip
    p.add_argument("--interval", choices=("normal", "percentile"), default=None,
                   help="condmean bootstrap interval (default normal: SE = sd)")  # fmt: skip
    p.add_argument("--covariance", choices=COVARIANCE_STRUCTURES, default="us",
                   help="covariance of the imputation model (default us)")  # fmt: skip
    p.add_argument("--group-by-arm", action="store_true",
                   help="one covariance matrix per arm in the imputation model")  # fmt: skip
    p.add_argument("--optimizer", choices=("rbmi", "exact"), default="rbmi",
                   help="rbmi: each fit as R mmrm makes it (rbmi's numbers; default); exact: "
                        "the REML optimum")  # fmt: skip
    p.add_argument("--imputations", "--n-samples", dest="imputations", type=at_least(2, 100_000),
                   metavar="M", help="bootstrap samples or imputations (default 500; mvn 50)")  # fmt: skip
    p.add_argument("--chains", type=at_least(1, 64), default=4, metavar="C",
                   help="bayes: Gibbs chains (default 4)")  # fmt: skip
    p.add_argument("--burn-in", type=at_least(0, 1_000_000), default=100, metavar="K",
                   help="bayes: iterations discarded per chain (default 100)")  # fmt: skip
    p.add_argument("--thin", type=at_least(1, 10_000), default=2, metavar="K",
                   help="bayes: iterations per kept draw (default 2)")  # fmt: skip
    p.add_argument("--tipping-point", action="store_true",
                   help="also the delta grid (tipping_point.csv, .png) and the exact tipping "
                        "point (mi_tipping_point.csv)")  # fmt: skip
    p.add_argument("--arm", metavar="ARM",
                   help="arm of the tipping point (default: every non-reference arm; mvn: the "
                        "design's first)")  # fmt: skip
    p.add_argument("--visit", type=nonnegative, metavar="V",
                   help="visit of the tipping point (default: the design's last key visit)")  # fmt: skip
    p.add_argument("--iterations", type=positive_int, default=50, metavar="K",
                   help="mvn: data-augmentation iterations per imputation (default 50)")  # fmt: skip
    p.add_argument("--seed", type=at_least(0), default=2016, metavar="S")
    p.add_argument("--alpha", type=alpha, default=0.05)
    p.add_argument("--delta-max", type=nonnegative, default=8.0, metavar="D",
                   help="tipping-point grid from -D to +D points (default 8)")  # fmt: skip
    p.add_argument("--delta-step", type=positive, default=0.5, metavar="D")
    p.add_argument(
        "--workers",
        type=at_least(1, MAX_WORKERS),
        metavar="N",
        help="local processes (default: one per core)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_out(p)
    add_data_options(p)
    p.set_defaults(handler=(_cmd("mi"), "run"))

    p = sub.add_parser("power", help="power and sample size by simulation (response or MMRM)")
    p.add_argument("--rates", type=_rates, metavar="P_REF,P_ARM",
                   help="true response rates of the reference arm and the other arm")  # fmt: skip
    p.add_argument("--n-per-arm", type=at_least(2, MAX_POWER_PER_ARM), nargs="+", required=True,
                   metavar="N", help="patients per arm (2 to 5,000)")  # fmt: skip
    p.add_argument("--test", choices=("chisq", "fisher", "mmrm"), default="chisq")
    p.add_argument("--sims", type=at_least(1, MAX_SIMS), metavar="K",
                   help="simulated trials per n (default 10000; 1000 for mmrm)")  # fmt: skip
    p.add_argument("--seed", type=at_least(0), default=2016, metavar="S")
    p.add_argument("--alpha", type=alpha, default=0.05)
    p.add_argument("--target-power", type=probability, metavar="P",
                   help="also find the sample size for this power (sample_size.csv)")  # fmt: skip
    p.add_argument("--workers", type=at_least(1, MAX_WORKERS), metavar="N",
                   help="local processes (default: one per core)")  # fmt: skip
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on a Dask distributed cluster, e.g. tcp://10.0.0.5:8786")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    g = p.add_argument_group("MMRM power (--test mmrm): the scenario is the MMRM fitted to --data")
    g.add_argument(
        "--data",
        type=path_text,
        metavar="FILE",
        help="trial to take the scenario from (default: the project's)",
    )
    g.add_argument(
        "--arm",
        type=nonempty_name,
        metavar="ARM",
        help="arm compared with the reference (default: the design's first)",
    )
    g.add_argument(
        "--visit", type=nonnegative, metavar="V", help="key visit (default: the design's last)"
    )
    g.add_argument("--effect", type=finite, metavar="D",
                   help="true difference in mean change at the key visit (default: as fitted)")  # fmt: skip
    g.add_argument("--df", choices=DF_METHODS, default="kenward-roger")
    add_out(p)
    add_data_options(p)
    p.set_defaults(handler=(_cmd("power"), "run"))

    p = sub.add_parser("fragility", help="fragility index of a 2x2 comparison (Walsh et al. 2014)")
    p.add_argument(
        "--events", type=_pair, required=True, metavar="A,B", help="events in the two arms"
    )
    p.add_argument(
        "--totals", type=_totals, required=True, metavar="NA,NB", help="patients in the two arms"
    )
    p.add_argument("--alpha", type=alpha, default=0.05)
    add_out(p)
    p.set_defaults(handler=(_cmd("appraisal"), "run_fragility"))

    p = sub.add_parser("grim", help="can a percentage (whole percent) be k/N for a whole k?")
    p.add_argument("--percent", type=_percent, required=True, metavar="P")
    p.add_argument("--n", type=at_least(1, MAX_GRIM_N), nargs="+", required=True, metavar="N")
    add_out(p)
    p.set_defaults(handler=(_cmd("appraisal"), "run_grim"))

    p = sub.add_parser(
        "report", help="build the reproducible report (numbered tables, figures and listings)"
    )
    p.add_argument(
        "--data", metavar="FILE", help="score file (default: the project's synthetic trial)"
    )
    p.add_argument("--formats", type=_formats, default=["html"], metavar="html,rtf,pdf,svg",
                   help="report formats (default html with PNG figures, always written): rtf = "
                        "every table also as RTF (rtf/), pdf = the whole report printed by headless "
                        "Chromium, svg = every figure also as SVG (vector, for manuscripts)")  # fmt: skip
    add_out(p, "reports")
    add_data_options(p)
    p.set_defaults(handler=(_cmd("report"), "run"))
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ipt-outcomes")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


class Terminated(BaseException):
    """SIGTERM (or SIGHUP), raised where the program is so that staged outputs are removed on
    the way out."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__(signum)
        self.signum = signum


def _on_interrupt(signum, frame):  # pragma: no cover - exercised by the signal tests
    raise KeyboardInterrupt()


def _on_terminate(signum, frame):  # pragma: no cover - exercised by the signal tests
    raise Terminated(signum)


def _install_signal_handlers() -> dict:
    """Ctrl-C / SIGINT -> KeyboardInterrupt and SIGTERM / SIGHUP -> :class:`Terminated`, also
    when the shell started this process with SIGINT ignored (a background job), so that
    ``kill -INT`` always stops a command cleanly. Returns the previous handlers."""
    wanted = {signal.SIGINT: _on_interrupt, signal.SIGTERM: _on_terminate}
    if hasattr(signal, "SIGHUP"):
        wanted[signal.SIGHUP] = _on_terminate
    previous = {}
    for sig, handler in wanted.items():
        with contextlib.suppress(ValueError, OSError):  # not the main thread (a test runner)
            previous[sig] = signal.signal(sig, handler)
    return previous


def _restore_signal_handlers(previous: dict) -> None:
    for sig, handler in previous.items():
        with contextlib.suppress(ValueError, OSError):
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings of ipt-outcomes as one line each; other libraries' warnings only with --debug."""
    from ..exceptions import CalibrationWarning, ConvergenceWarning

    if issubclass(category, (ConvergenceWarning, CalibrationWarning)) or (
        issubclass(category, UserWarning) and "ipt_outcomes" in str(filename)
    ):
        print(f"ipt-outcomes: warning: {message}", file=sys.stderr)


def _error_text(err) -> str:
    """The message of a user's error, with the command-line flag for each fix it names."""
    from .options import FLAGS

    text = str(err)
    problems = getattr(err, "problems", [])
    hints = sorted({FLAGS[p.option] for p in problems if getattr(p, "option", None) in FLAGS})
    if hints:
        text += "\n(on the command line: " + ", ".join(hints) + ")"
    return text


def _os_error_text(err: OSError) -> str:
    where = f"{err.filename}: " if getattr(err, "filename", None) else ""
    return f"{where}{err.strerror or err}"


def _stopped(how: str) -> str:
    from ..output import committed

    done = committed()
    if done:
        return f"ipt-outcomes: {how} after the outputs were written ({len(done)} files)"
    return f"ipt-outcomes: {how}; nothing was written"


#: Thread pools of the linear-algebra libraries. The models work on many small matrices (per
#: missing-data pattern, per subject), where threads cost more than they give: every command
#: uses one thread, and parallel work uses processes - unless the user set these variables.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (usage errors exit 2 from argparse)."""
    if "numpy" not in sys.modules:  # read when numpy loads its BLAS
        for var in BLAS_THREAD_VARIABLES:
            os.environ.setdefault(var, "1")
    previous = _install_signal_handlers()
    try:
        return _main(argv)
    except KeyboardInterrupt:  # during parsing or start-up
        print("ipt-outcomes: interrupted; nothing was written", file=sys.stderr)
        return 130
    except Terminated as stop:
        print("ipt-outcomes: terminated; nothing was written", file=sys.stderr)
        return 128 + int(stop.signum)
    finally:
        _restore_signal_handlers(previous)


def _main(argv: list[str] | None) -> int:
    import warnings

    parser = build_parser()
    args = parser.parse_args(argv)
    from ..exceptions import DataValidationError, IptOutcomesError
    from ..output import reset_committed

    reset_committed()
    with warnings.catch_warnings():
        if not args.debug:
            warnings.showwarning = _show_warning
        try:
            module, func = args.handler
            return int(getattr(importlib.import_module(module), func)(args) or 0)
        except DataValidationError as err:
            if args.debug:
                raise
            if args.command == "validate":
                print(_error_text(err))
            else:
                print(f"ipt-outcomes: {_error_text(err)}", file=sys.stderr)
            return 1
        except (IptOutcomesError, ValueError) as err:
            if args.debug:
                raise
            if _is_linalg_error(err):
                print(
                    "ipt-outcomes: the model cannot be estimated from these data (a singular "
                    f"matrix: {err}); typical causes are scores that do not vary, or too few "
                    "subjects with scores in an arm or at a visit",
                    file=sys.stderr,
                )
            else:
                print(f"ipt-outcomes: {_error_text(err)}", file=sys.stderr)
            return 1
        except BrokenPipeError:  # e.g. `ipt-outcomes validate big.csv | head`
            _quiet_stdout()
            return 141
        except OSError as err:  # a file or folder the system refused: the user's to fix
            if args.debug:
                raise
            print(f"ipt-outcomes: {_os_error_text(err)}", file=sys.stderr)
            return 1
        except MemoryError:
            if args.debug:
                raise
            print(
                "ipt-outcomes: out of memory: the data or the options ask for more than this "
                "machine has (e.g. fewer simulations, a smaller --n-per-arm or a coarser grid)",
                file=sys.stderr,
            )
            return 1
        except KeyboardInterrupt:
            print(_stopped("interrupted"), file=sys.stderr)
            return 130
        except Terminated as stop:
            print(_stopped("terminated"), file=sys.stderr)
            return 128 + int(stop.signum)
        except Exception as err:  # a bug: say so plainly, never a traceback unless asked
            if args.debug:
                raise
            if _caused_by_stop(err):  # a worker pool broken by Ctrl-C or SIGTERM
                print(_stopped("interrupted"), file=sys.stderr)
                return 130
            print(
                f"ipt-outcomes: internal error ({type(err).__name__}: {err}); "
                "please report it, with the output of --debug",
                file=sys.stderr,
            )
            return 1


def _is_linalg_error(err: BaseException) -> bool:
    np = sys.modules.get("numpy")
    return np is not None and isinstance(err, np.linalg.LinAlgError)


def _caused_by_stop(err: BaseException) -> bool:
    seen = err
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt | Terminated):
            return True
        seen = seen.__context__
    return False


def _quiet_stdout() -> None:
    """After a closed pipe, send what is left of stdout nowhere (no second error at exit)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover - stdout is not a real file (tests)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
