"""The generator's entry point inside another MLflow's environment: that MLflow's document, as JSON.

``foreign.build_in`` runs it with that environment's interpreter, isolated (``python -I``), from a
copy of this package alone, so it may import nothing but the standard library, protobuf and
mlflow: never ``hokusai_contracts``, pydantic or the validator (``tests/mlflow_openapi`` checks
the package's imports). Validating, merging the overlay and rendering YAML happen in the
project's own environment, so every version's files are rendered by one PyYAML.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """``emit OUT``: write ``{"mlflow_version": ..., "document": ...}`` to the file OUT."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        sys.stderr.write("usage: emit OUT.json\n")
        return 2
    warnings.simplefilter("ignore")  # MLflow 2.x warns about pkg_resources on import
    from hokusai_mlflow_openapi.protos import build_mlflow_openapi, mlflow_version

    try:
        document = build_mlflow_openapi(strict=False)
    except (LookupError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    with open(args[0], "w", encoding="utf-8") as out:
        json.dump({"mlflow_version": mlflow_version(), "document": document}, out)
    return 0
