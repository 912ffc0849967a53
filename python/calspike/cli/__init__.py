"""The `calspike` command.

This module and the package face import nothing but `sys` (loaded before any code runs):
the console script imports them before `main` runs, so a Ctrl-C at any moment of start-up
lands inside `main` and ends in one line, not a traceback.
"""

import sys

INTERRUPTS: "list[int]" = []  # SIGINTs received while `main` runs (see `main`)


def main(argv: "list[str] | None" = None) -> int:
    """Entry point of the `calspike` command: 0 done, 1 data error, 2 usage error, 130 interrupted.

    A Ctrl-C is remembered as well as raised: code that runs while modules load can lose the
    KeyboardInterrupt (Python drops one raised in a weakref callback, as its import machinery
    runs when it frees a module lock; compiled modules may clear it or turn it into an
    ImportError). The command then stops before it starts its work (`run_command`) and ends
    as interrupted.
    """
    previous_handler = None
    INTERRUPTS.clear()
    try:
        import signal

        def remember_and_raise(signum: int, frame: object) -> None:
            INTERRUPTS.append(signum)
            if _importing(frame) and hasattr(signal, "setitimer"):
                # raised inside a module's import, torch's C++ start-up can turn it into
                # std::terminate (SIGABRT, seen in CI): raise once the import is done
                signal.signal(signal.SIGALRM, raise_after_import)
                signal.setitimer(signal.ITIMER_REAL, 0.05)
                return
            raise KeyboardInterrupt

        def raise_after_import(signum: int, frame: object) -> None:
            if _importing(frame):
                signal.setitimer(signal.ITIMER_REAL, 0.05)
                return
            raise KeyboardInterrupt

        try:
            previous_handler = signal.signal(signal.SIGINT, remember_and_raise)
        except ValueError:  # not the main thread: Python's own handler stays
            pass
        from calspike.cli.dispatch import run_command

        code = run_command(argv, INTERRUPTS)
        if INTERRUPTS:
            raise KeyboardInterrupt
        return code
    except BaseException as error:  # at any moment, start-up included: one line, no traceback
        if not (INTERRUPTS or isinstance(error, KeyboardInterrupt)):
            raise
        print("calspike: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous_handler is not None:
            import signal

            if hasattr(signal, "setitimer"):
                signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGINT, previous_handler)


def _importing(frame: object) -> bool:
    """Whether `frame` (a signal handler's) runs inside an import (importlib up its stack)."""
    while frame is not None:
        if getattr(getattr(frame, "f_code", None), "co_filename", "").startswith(
            "<frozen importlib"
        ):
            return True
        frame = getattr(frame, "f_back", None)
    return False
