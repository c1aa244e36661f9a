"""Argument types and help texts that several commands share: each turns bad input into one argparse line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from hokusai_contracts.domain.names import LIVE_SCHEMATHESIS_SUITES, SCHEMATHESIS_SUITES, Suite

__all__ = ["REPORT_DIR_HELP", "live_suites", "mlflow_prefix", "models", "suites", "url"]

REPORT_DIR_HELP = "where the report files go"


def models(text: str) -> list[object]:
    from hokusai_contracts.checks.scenario import ModelKind

    names = [name.strip() for name in text.split(",") if name.strip()]
    try:
        return [ModelKind(name) for name in names]
    except ValueError:
        choices = ", ".join(kind.value for kind in ModelKind)
        raise argparse.ArgumentTypeError(f"unknown model {text!r}; choose from {choices}") from None


def _suite_list(text: str, allowed: Sequence[Suite], what: str) -> list[Suite]:
    names = [name.strip() for name in text.split(",") if name.strip() and name.strip() != "none"]
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {what} {unknown[0]!r}; choose from {', '.join(allowed)} or none")
    return [Suite(name) for name in names]


def suites(text: str) -> list[Suite]:
    return _suite_list(text, SCHEMATHESIS_SUITES, "suite")


def live_suites(text: str) -> list[Suite]:
    return _suite_list(text, LIVE_SCHEMATHESIS_SUITES, "live suite")


def url(text: str) -> str:
    from hokusai_contracts.settings import http_url

    try:
        return http_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} {exc}") from None


def mlflow_prefix(text: str) -> str:
    from hokusai_contracts.settings import mlflow_prefix as checked

    try:
        return checked(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} {exc}") from None
