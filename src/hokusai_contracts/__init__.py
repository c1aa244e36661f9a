"""hokusai-contracts: contract tests for third-party model registration on Hokusai."""

from hokusai_contracts._version import __version__
from hokusai_contracts.domain.findings import (
    ContractRef,
    Diagnosis,
    DiagnosisCategory,
    Evidence,
    Exchange,
    Finding,
    FindingKind,
)
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import Suite
from hokusai_contracts.domain.redact import mask, redact

__all__ = [
    "__version__",
    # Records of a run
    "ContractRef",
    "Diagnosis",
    "DiagnosisCategory",
    "Evidence",
    "Exchange",
    "Finding",
    "FindingKind",
    "Hop",
    "Suite",
    # Secrets
    "mask",
    "redact",
]
