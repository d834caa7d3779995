"""The ``ipt-outcomes`` command line (SPEC "Command line").

Exit status: 0 success; 1 invalid data or failed analysis (one clear message per problem, no
traceback unless ``--debug``); 2 usage error. Outputs are staged and moved into place only when
the whole command succeeded; Ctrl-C and SIGTERM leave nothing behind.

Each command lives in its own module, imported only when that command runs, so ``--help`` does
not load the numerical libraries.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

from ..constants import (
    ADJUSTED_VARIANCES,
    CI_METHODS,
    COVARIANCE_STRUCTURES,
    DF_METHODS,
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
    nonnegative,
    positive,
    positive_int,
    probability,
)

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
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
    if not out or out[0] != 0 or any(b <= a for a, b in zip(out, out[1:], strict=False)):
        raise argparse.ArgumentTypeError("visits must start at 0 and increase, e.g. 0,1.5,3,6,12")
    return out


def _pair(text):
    from .appraisal import pair

    return pair(text)


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
    p.add_argument("file", metavar="FILE")
    add_data_options(p)
    p.set_defaults(handler=(_cmd("validate"), "run"))

    p = sub.add_parser("design", help="write a starter design file inferred from a score file")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--out", required=True, metavar="FILE.toml", help="design file to write")
    add_data_options(p)
    p.set_defaults(handler=(_cmd("design"), "run"))

    p = sub.add_parser("simulate", help="write the calibrated synthetic trial")
    p.add_argument(
        "--seed", type=at_least(0), required=True, help="seed (the project's trial uses 2016)"
    )
    p.add_argument("--out", required=True, metavar="FILE", help="CSV file to write")
    p.add_argument("--calibration", metavar="FILE", help="also write the calibration table as CSV")
    p.add_argument(
        "--n-per-arm", type=positive_int, metavar="N", help="scaled trial: N randomised per arm"
    )
    p.add_argument(
        "--visits", type=_visits, metavar="V,V,...", help="visit schedule in months (from 0)"
    )
    p.add_argument(
        "--no-modelled-arm", action="store_true", help="leave out the modelled IPT+MED arm"
    )
    p.add_argument("--quiet", action="store_true", help="do not print the calibration table")
    p.set_defaults(handler=(_cmd("simulate"), "run"))

    p = sub.add_parser("response", help="response and remission rates and comparisons")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--missing", choices=MISSING_RULES, default="observed",
                   help="missing-data rule (default observed)")  # fmt: skip
    add_out(p)
    p.add_argument("--ci", choices=CI_METHODS, default="wilson", help="interval of a rate")
    p.add_argument("--rd-method", choices=("newcombe", "miettinen-nurminen"), default="newcombe",
                   help="interval of the risk difference")  # fmt: skip
    p.add_argument("--alpha", type=alpha, default=0.05, help="1 - confidence level (default 0.05)")
    g = p.add_argument_group("covariate adjustment (marginal effects by g-computation, FDA 2023)")
    g.add_argument("--adjust", action="append", metavar="COL",
                   help="adjust for a baseline covariate: 'baseline' (the baseline score) or a "
                        "column (repeatable); writes response_adjusted.csv")  # fmt: skip
    g.add_argument("--variance", choices=ADJUSTED_VARIANCES, default="ge",
                   help="ge: Ge et al. 2011 (delta method, HC0 sandwich); ye: Ye et al. 2023")  # fmt: skip
    g.add_argument("--strata", action="append", metavar="COL",
                   help="randomisation strata for --variance ye (repeatable)")  # fmt: skip
    add_data_options(p)
    p.set_defaults(handler=(_cmd("response"), "run"))

    p = sub.add_parser("mmrm", help="mixed model for repeated measures on change from baseline")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--df", choices=DF_METHODS, default="kenward-roger",
                   help="degrees of freedom (default kenward-roger)")  # fmt: skip
    p.add_argument("--covariance", choices=COVARIANCE_STRUCTURES, default="us",
                   help="within-subject covariance (default us)")  # fmt: skip
    p.add_argument(
        "--method", choices=["reml", "ml"], default="reml", help="estimation (default reml)"
    )
    p.add_argument(
        "--covariate", action="append", metavar="COL", help="extra fixed effect (repeatable)"
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
    p.add_argument("--group-arm", metavar="ARM",
                   help="arm treated in therapy groups (default: the arm with a therapy_group column)")  # fmt: skip
    add_out(p)
    add_data_options(p)
    p.set_defaults(handler=(_cmd("lmm"), "run"))

    p = sub.add_parser(
        "mi", help="estimands: multiple imputation and a delta-adjusted tipping point"
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument("--strategy", choices=MI_STRATEGIES, default="MAR",
                   help="how dropouts are imputed (default MAR)")  # fmt: skip
    p.add_argument("--events", metavar="FILE",
                   help="intercurrent events: subject_id, visit, strategy")  # fmt: skip
    p.add_argument("--method", choices=MI_METHODS, default=None,
                   help="condmean, approxbayes or bayes (default: MVN data augmentation, MAR)")  # fmt: skip
    p.add_argument("--resampling", choices=MI_RESAMPLING, default="jackknife",
                   help="standard errors of condmean (default jackknife)")  # fmt: skip
    p.add_argument("--delta", type=finite, metavar="D",
                   help="points added to imputed scores of the non-reference arms")  # fmt: skip
    p.add_argument("--arm", metavar="ARM", help="experimental arm (default: the design's first)")
    p.add_argument("--visit", type=nonnegative, metavar="V",
                   help="visit of the contrast (default: the design's last key visit)")  # fmt: skip
    p.add_argument("--imputations", type=at_least(2), default=50, metavar="M",
                   help="number of imputations (default 50)")  # fmt: skip
    p.add_argument("--iterations", type=positive_int, default=50, metavar="K",
                   help="data-augmentation iterations per imputation (default 50)")  # fmt: skip
    p.add_argument("--seed", type=at_least(0), default=2016, metavar="S")
    p.add_argument("--alpha", type=alpha, default=0.05)
    p.add_argument("--delta-max", type=nonnegative, default=8.0, metavar="D",
                   help="shifts from -D to +D points in the tipping-point grid (default 8)")  # fmt: skip
    p.add_argument("--delta-step", type=positive, default=0.5, metavar="D")
    p.add_argument(
        "--workers", type=positive_int, metavar="N", help="local processes (default: one per core)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_out(p)
    add_data_options(p)
    p.set_defaults(handler=(_cmd("mi"), "run"))

    p = sub.add_parser("power", help="power and sample size by simulation (response or MMRM)")
    p.add_argument("--rates", type=_rates, metavar="P_REF,P_ARM",
                   help="true response rates of the reference arm and the other arm")  # fmt: skip
    p.add_argument("--n-per-arm", type=at_least(2), nargs="+", required=True, metavar="N")
    p.add_argument("--test", choices=("chisq", "fisher", "mmrm"), default="chisq")
    p.add_argument("--sims", type=positive_int, metavar="K",
                   help="simulated trials per n (default 10000; 1000 for mmrm)")  # fmt: skip
    p.add_argument("--seed", type=at_least(0), default=2016, metavar="S")
    p.add_argument("--alpha", type=alpha, default=0.05)
    p.add_argument("--target-power", type=probability, metavar="P",
                   help="also find the sample size for this power (sample_size.csv)")  # fmt: skip
    p.add_argument(
        "--workers", type=positive_int, metavar="N", help="local processes (default: one per core)"
    )
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on a Dask distributed cluster, e.g. tcp://10.0.0.5:8786")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    g = p.add_argument_group("MMRM power (--test mmrm): the scenario is the MMRM fitted to --data")
    g.add_argument(
        "--data", metavar="FILE", help="trial to take the scenario from (default: the project's)"
    )
    g.add_argument(
        "--arm", metavar="ARM", help="arm compared with the reference (default: the design's first)"
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
        "--totals", type=_pair, required=True, metavar="NA,NB", help="patients in the two arms"
    )
    p.add_argument("--alpha", type=alpha, default=0.05)
    add_out(p)
    p.set_defaults(handler=(_cmd("appraisal"), "run_fragility"))

    p = sub.add_parser("grim", help="can a percentage (whole percent) be k/N for a whole k?")
    p.add_argument("--percent", type=_percent, required=True, metavar="P")
    p.add_argument("--n", type=positive_int, nargs="+", required=True, metavar="N")
    add_out(p)
    p.set_defaults(handler=(_cmd("appraisal"), "run_grim"))

    p = sub.add_parser(
        "report", help="build the reproducible report (tables, figures, report.html)"
    )
    p.add_argument(
        "--data", metavar="FILE", help="score file (default: the project's synthetic trial)"
    )
    p.add_argument("--formats", type=_formats, default=["html"], metavar="html,rtf,pdf",
                   help="report formats (default html)")  # fmt: skip
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
    """SIGTERM, raised where the program is so that staged outputs are removed on the way out."""


def _on_sigterm(signum, frame):  # pragma: no cover - exercised by the signal test
    raise Terminated()


def _error_text(err) -> str:
    """The message of a user's error, with the command-line flag for each fix it names."""
    from .options import FLAGS

    text = str(err)
    problems = getattr(err, "problems", [])
    hints = sorted({FLAGS[p.option] for p in problems if getattr(p, "option", None) in FLAGS})
    if hints:
        text += "\n(on the command line: " + ", ".join(hints) + ")"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from ..exceptions import DataValidationError, IptOutcomesError

    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (e.g. called from a test runner's worker)
        previous = None
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
    except (IptOutcomesError, ValueError, FileNotFoundError, PermissionError) as err:
        if args.debug:
            raise
        print(f"ipt-outcomes: {_error_text(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ipt-outcomes: interrupted; nothing was written", file=sys.stderr)
        return 130
    except Terminated:
        print("ipt-outcomes: terminated; nothing was written", file=sys.stderr)
        return 143
    except Exception as err:  # a bug: say so plainly, never a traceback unless asked
        if args.debug:
            raise
        print(
            f"ipt-outcomes: internal error ({type(err).__name__}: {err}); "
            "please report it, with the output of --debug",
            file=sys.stderr,
        )
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
