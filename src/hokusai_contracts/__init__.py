"""hokusai-contracts: contract tests for third-party model registration on Hokusai."""

from ._findings import ContractRef, Diagnosis, DiagnosisCategory, Exchange, Finding, FindingKind
from ._hops import Hop
from ._redact import mask, redact

__version__ = "0.1.0"

__all__ = [
    "__version__",
    # Records of a run
    "ContractRef",
    "Diagnosis",
    "DiagnosisCategory",
    "Exchange",
    "Finding",
    "FindingKind",
    "Hop",
    # Secrets
    "mask",
    "redact",
]
