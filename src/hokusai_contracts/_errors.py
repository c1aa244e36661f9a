"""Errors hokusai-contracts raises, and the exit code each one means.

```
HokusaiContractsError          every error of ours; the CLI catches it at the edge
├── UsageError                 the user asked for something we cannot do (exit 2): a bad option,
│   │                          setting, REPORT_DIR, PROXY_CMD...
│   └── ContractError          a contract file is unreadable or invalid: file, line, what, next
├── StackError                 a part of the stack failed to start or to answer (exit 2)
└── SafetyError                a live run refused to do something unsafe (exit 2)
    └── safety.gate.Refused    the gate refused a request (policy); a live phase records it as a
        └── BudgetExhausted    check, so it reaches the CLI only through a defect; budget spent

Terminated (a KeyboardInterrupt)  SIGTERM, raised where the run can unwind (exit 143)
```

Exit codes follow Schemathesis: 0 all checks passed, 1 checks found failures,
2 bad input or setup; 130 on Ctrl-C and 143 on SIGTERM, as shells count them. Exit code 1 is
never raised as an error: a failing check is a ``Finding`` in the report, not an exception. Bad
arguments to a function (a programming mistake, not a user's) stay built-in
``ValueError``/``TypeError``.
"""

from __future__ import annotations

__all__ = [
    "ContractError",
    "HokusaiContractsError",
    "SafetyError",
    "StackError",
    "Terminated",
    "UsageError",
]


class HokusaiContractsError(Exception):
    """Root of every error hokusai-contracts raises on purpose."""

    #: Process exit code the CLI uses when this error reaches it.
    exit_code: int = 2


class UsageError(HokusaiContractsError):
    """A user mistake: a bad option, a missing file, a contract we cannot use."""

    exit_code = 2


class ContractError(UsageError):
    """A contract file that cannot be read or is not a usable OpenAPI document.

    The message is one paragraph: ``file:line: what is wrong. What to do.``
    The parts stay available as attributes so a report can link to the line.
    """

    def __init__(self, file: str, problem: str, *, line: int | None = None, hint: str = "") -> None:
        self.file = file
        self.line = line
        self.problem = problem
        self.hint = hint
        where = f"{file}:{line}" if line else file
        message = f"{where}: {problem.rstrip('.')}."
        if hint:
            message = f"{message} {hint}"
        super().__init__(message)


class StackError(HokusaiContractsError):
    """A part of the stack (fake, proxy, MLflow server, journal) failed to start or answer."""

    exit_code = 2


class SafetyError(HokusaiContractsError):
    """A live run refused an action its safety policy forbids (e.g. a write to production)."""

    exit_code = 2


class Terminated(KeyboardInterrupt):
    """The process got SIGTERM. A ``KeyboardInterrupt`` on purpose: it must pass every ``except
    Exception`` on its way out, so that teardown runs as it does on Ctrl-C; the CLI exits 143."""

    def __init__(self) -> None:
        super().__init__("SIGTERM")
