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
import os
import re
import signal
import sys

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # "-1,5" or "-1e3" is a (wrong) value to range-check, not an unknown option
        self._negative_number_matcher = re.compile(r"^-\d[\d,.eE+-]*$|^-\.\d[\d,.eE+-]*$")

    def error(self, message):  # usage errors: exit 2 with the usage line, as argparse does
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


#: The commands: name, module (``ipt_outcomes.cli.<module>`` with ``arguments(parser)`` and
#: ``run(args)``) and the one-line help. Each module owns its arguments; the modules import the
#: numerical libraries only inside ``run``, so ``--help`` stays fast.
COMMANDS = (
    ("validate", "validate", "check a score file against the data contract"),
    ("design", "design", "write a starter design file inferred from a score file"),
    ("plan", "plan", "check the analysis plan against the data; print what the report would run"),
    ("simulate", "simulate", "write the calibrated synthetic trial"),
    ("response", "response", "response and remission rates and comparisons"),
    ("mmrm", "mmrm", "mixed model for repeated measures on change from baseline"),
    ("lmm", "lmm", "linear mixed model (growth curve) on all scores"),
    ("mi", "mi", "estimands: reference-based multiple imputation and the tipping point"),
    ("reliable-change", "reliable_change",
     "reliable and clinically significant change (Jacobson & Truax 1991)"),
    ("meta", "meta", "random-effects meta-analysis of published trials (as R metafor rma)"),
    ("power", "power", "power and sample size by simulation (response or MMRM)"),
    ("fragility", "fragility", "fragility index of a 2x2 comparison (Walsh et al. 2014)"),
    ("grim", "grim", "can a percentage (whole percent) be k/N for a whole k?"),
    ("report", "report", "build the reproducible report (numbered tables, figures and listings)"),
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ipt-outcomes",
        description="Outcomes research and trial analysis for depression psychotherapy trials.",
    )
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, module, text in COMMANDS:
        mod = importlib.import_module(f"{__name__}.{module}")
        p = sub.add_parser(name, help=text, description=text)
        mod.arguments(p)
        p.set_defaults(handler=(mod.__name__, "run"))
    return parser


class _VersionAction(argparse.Action):
    """``--version``: the installed version, looked up only when asked (reading the package's
    metadata costs every command 20 ms otherwise)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="show program's version number and exit"):  # fmt: skip
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        parser._print_message(f"{parser.prog} {_version()}\n", sys.stdout)
        parser.exit()


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
    """Run the command line; returns the exit status (usage errors exit 2 from argparse).

    Run as the ``ipt-outcomes`` program (``argv`` None), the process ends as soon as the command
    is done and its output flushed (:func:`_end_process`)."""
    if "numpy" not in sys.modules:  # read when numpy loads its BLAS
        for var in BLAS_THREAD_VARIABLES:
            os.environ.setdefault(var, "1")
    previous = _install_signal_handlers()
    try:
        status = _main(argv)
    except KeyboardInterrupt:  # during parsing or start-up
        print("ipt-outcomes: interrupted; nothing was written", file=sys.stderr)
        status = 130
    except Terminated as stop:
        print("ipt-outcomes: terminated; nothing was written", file=sys.stderr)
        status = 128 + int(stop.signum)
    finally:
        if argv is None:  # the process ends now: a signal still pending must not undo the exit
            _ignore_signals(previous)
        else:  # called in-process (tests, scripts): leave the caller's handlers as they were
            _restore_signal_handlers(previous)
    if argv is None:
        _end_process(status)
    return status


def _ignore_signals(previous: dict) -> None:
    """Ignore the stop signals from here on: the command has said how it ended and is exiting
    with its status (a Ctrl-C that the interpreter delivers late would otherwise kill it by
    SIGINT after "nothing was written" was printed)."""
    for sig in previous:
        with contextlib.suppress(ValueError, OSError):
            signal.signal(sig, signal.SIG_IGN)


def _end_process(status: int) -> None:
    """End the program now, with ``status``, once stdout and stderr are flushed.

    Every output is complete by now (written whole by :mod:`ipt_outcomes.output`, worker
    processes joined); what remains is the interpreter's teardown, freeing each object of the
    libraries loaded (pandas, scipy, matplotlib), which takes 0.1 to 0.5 s and does nothing a user
    can see. Skipped under a tracer or coverage measurement, whose results are saved at exit."""
    if sys.gettrace() is not None or "coverage" in sys.modules:
        return
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):  # `ipt-outcomes validate big.csv | head`
        status = status or 141
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
    if "multiprocessing" in sys.modules:  # after an interruption: no worker left running
        for child in sys.modules["multiprocessing"].active_children():
            child.terminate()
    os._exit(status)


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
