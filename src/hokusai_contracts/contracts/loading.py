"""Loading a contract file: an OpenAPI 3.0/3.1 document, its operations, and their lines.

``Contract.load`` parses a YAML or JSON file (``_source`` keeps the line of
every JSON pointer and rejects broken documents with a ``ContractError``) and
lists its operations. ``Contract.match`` maps a concrete request line, as a
hop journal records it, to the operation that must accept it.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from hokusai_contracts._errors import ContractError
from hokusai_contracts.contracts._checked import passed_before, remember_passed
from hokusai_contracts.contracts._source import SPEC_HINT, check_document, join_pointer, parse_with_lines, split_pointer
from hokusai_contracts.domain.findings import ContractRef

__all__ = ["Contract", "Operation", "OperationMatch", "Parameter"]

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(frozen=True)
class Parameter:
    """One declared parameter of an operation, ``$ref`` resolved."""

    name: str
    location: str  # "path", "query", "header" or "cookie"
    required: bool
    pointer: str  # of the parameter object (after $ref)
    spec: dict[str, Any]


@dataclass(frozen=True)
class Operation:
    method: str  # upper case, e.g. "POST"
    path_template: str  # as written in the contract, e.g. "/api/v1/keys/{key_id}"
    pointer: str  # e.g. "/paths/~1api~1v1~1keys~1validate/post"
    operation_id: str | None
    spec: dict[str, Any]
    parameters: tuple[Parameter, ...] = ()
    security: tuple[dict[str, Any], ...] = ()  # effective: the operation's, else the document's

    @property
    def label(self) -> str:
        """``METHOD /template``: how findings and known deviations name an operation."""
        return f"{self.method} {self.path_template}"


@dataclass(frozen=True)
class OperationMatch:
    operation: Operation
    path_params: dict[str, str] = field(default_factory=dict)
    prefix: str = ""  # the server URL path prefix stripped before matching, if any


@dataclass(frozen=True)
class _Route:
    template: str
    regex: re.Pattern[str]
    specificity: tuple[int, int]


def _route(template: str) -> _Route:
    segments = template.strip("/").split("/")
    pattern, literal, greedy = "", 0, 0
    for index, segment in enumerate(segments):
        pattern += "/"
        whole = re.fullmatch(r"\{([^{}]+)\}", segment)
        # A path-like parameter in the last segment may span slashes: the MLflow artifact
        # route /api/2.0/mlflow-artifacts/artifacts/{path} receives "a/b/model.pkl".
        if whole and index == len(segments) - 1 and whole.group(1).lower().endswith("path"):
            pattern += f"(?P<p{index}>.+)"
            greedy = 1
            continue
        literal += "{" not in segment
        parts = re.split(r"(\{[^{}]+\})", segment)
        pattern += "".join(
            f"(?P<p{index}_{n}>[^/]+)" if p.startswith("{") else re.escape(p)
            for n, p in enumerate(parts)
        )
    # Most literal segments first; on a tie, a slash-spanning parameter last. DOTALL: a decoded
    # line break in a value is the value's to judge (its pattern), not a reason to find no operation.
    return _Route(template, re.compile(pattern, re.DOTALL), (-literal, greedy))


def _param_names(template: str) -> list[str]:
    return re.findall(r"\{([^{}]+)\}", template)


class Contract:
    """A loaded contract file. Build with ``Contract.load``; loads are cached per (path, mtime)."""

    _cache: dict[tuple[Path, int, Path], Contract] = {}

    def __init__(self, path: Path, display_path: str, document: dict[str, Any],
                 lines: dict[str, int]) -> None:
        self.path = path
        self.display_path = display_path
        self.document = document
        self._lines = lines
        self.version = "3.1" if str(document["openapi"]).startswith("3.1") else "3.0"
        self.operations: list[Operation] = []
        self._routes: list[_Route] = []
        self._by_route: dict[str, dict[str, Operation]] = {}
        self._closest: dict[str, str | None] = {}
        self._collect_operations()
        self.server_prefixes = self._server_prefixes()

    # -- loading ----------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path, root: str | Path | None = None) -> Contract:
        """Load and check a contract; ``root`` (default: cwd) makes ``display_path`` relative."""
        path = Path(path).resolve()
        base = Path(root).resolve() if root is not None else Path.cwd().resolve()
        display = path.relative_to(base).as_posix() if path.is_relative_to(base) else str(path)
        try:
            mtime = path.stat().st_mtime_ns
            key = (path, mtime, base)
            if key in cls._cache:
                return cls._cache[key]
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ContractError(display, f"cannot read the contract ({exc})",
                                hint="Check the path, or point SPEC at an existing file.") from exc
        contract = cls._from_text(text, path, display, is_json=path.suffix.lower() == ".json")
        cls._cache[key] = contract
        return contract

    @classmethod
    def from_bytes(cls, data: bytes, path: str, display: str) -> Contract:
        """A contract from its file's bytes (sent to a Dask worker), checked as ``load`` checks it."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ContractError(display, f"cannot read the contract ({exc})") from None
        return cls._from_text(text, Path(path), display, is_json=path.lower().endswith(".json"))

    @classmethod
    def _from_text(cls, text: str, path: Path, display: str, *, is_json: bool) -> Contract:
        document, lines = parse_with_lines(text, display, is_json=is_json)
        version = document.get("openapi") if isinstance(document, dict) else None
        if not isinstance(document, dict) or version is None:
            raise ContractError(display, "not an OpenAPI document (no top-level `openapi` key)",
                                line=1, hint=SPEC_HINT)
        if not re.fullmatch(r"3\.[01]\.\d+", str(version)):
            raise ContractError(display, f"OpenAPI version {version!r} is not supported",
                                line=lines.get("/openapi"),
                                hint="Use an OpenAPI 3.0.x or 3.1.x document.")
        if not passed_before(text):
            check_document(document, display, lines)
            remember_passed(text)
        return cls(path, display, document, lines)

    def derived(self, document: dict[str, Any], display_path: str | None = None) -> Contract:
        """This contract changed in memory (an overlay, a prefix); rules it shares with the file keep their lines."""
        return Contract(self.path, display_path or self.display_path, document, self._lines)

    # -- lines and pointers -----------------------------------------------------------------

    def line_of(self, pointer: str) -> int | None:
        """1-based source line of ``pointer`` (a mapping key's line), or None if not written."""
        return self._lines.get(pointer.removeprefix("#"))

    def ref(self, pointer: str) -> ContractRef:
        """A citation of ``pointer``; a rule not written out (a default) cites its parent's line."""
        pointer = pointer.removeprefix("#")
        probe = pointer
        line = self._lines.get(probe)
        while line is None and probe:
            probe = probe.rsplit("/", 1)[0]
            line = self._lines.get(probe)
        return ContractRef(file=self.display_path, pointer=pointer, line=line)

    def node(self, pointer: str) -> Any:
        """The value at ``pointer``; KeyError if there is none."""
        value: Any = self.document
        for token in split_pointer(pointer):
            value = value[int(token)] if isinstance(value, list) else value[token]
        return value

    def deref(self, pointer: str) -> tuple[Any, str]:
        """Follow local ``$ref``s from ``pointer``; return the final value and its pointer."""
        value = self.node(pointer)
        seen = {pointer}
        while isinstance(value, dict) and isinstance(value.get("$ref"), str):
            pointer = value["$ref"].removeprefix("#")
            if pointer in seen:
                raise ContractError(self.display_path, f"$ref cycle at {pointer}",
                                    line=self.line_of(pointer), hint=SPEC_HINT)
            seen.add(pointer)
            value = self.node(pointer)
        return value, pointer

    # -- operations -------------------------------------------------------------------------

    def _collect_operations(self) -> None:
        top_security = tuple(self.document.get("security") or ())
        for template, _ in (self.document.get("paths") or {}).items():
            item, item_ptr = self.deref(join_pointer("/paths", template))
            shared = self._parameters(item, item_ptr)
            by_method: dict[str, Operation] = {}
            for method in HTTP_METHODS:
                spec = item.get(method)
                if not isinstance(spec, dict):
                    continue
                pointer = join_pointer(item_ptr, method)
                own = self._parameters(spec, pointer)
                merged = {(p.name, p.location): p for p in (*shared, *own)}  # operation wins
                security = spec["security"] if "security" in spec else top_security
                operation = Operation(method.upper(), template, pointer, spec.get("operationId"),
                                      spec, tuple(merged.values()), tuple(security))
                self.operations.append(operation)
                by_method[operation.method] = operation
            self._by_route[template] = by_method
            self._routes.append(_route(template))
        self._routes.sort(key=lambda r: r.specificity)

    def _parameters(self, owner: dict[str, Any], pointer: str) -> list[Parameter]:
        found = []
        for index, _ in enumerate(owner.get("parameters") or []):
            spec, at = self.deref(join_pointer(pointer, "parameters", index))
            found.append(Parameter(spec["name"], spec["in"], bool(spec.get("required")), at, spec))
        return found

    def _server_prefixes(self) -> list[str]:
        prefixes = []
        for server in self.document.get("servers") or []:
            url = str(server.get("url", ""))
            for name, var in (server.get("variables") or {}).items():
                url = url.replace("{" + name + "}", str(var.get("default", "")))
            prefix = urlsplit(url).path.rstrip("/")
            if prefix and prefix not in prefixes:
                prefixes.append(prefix)
        return prefixes

    def _candidates(self, path: str) -> list[tuple[str, str]]:
        if "://" in path:
            path = urlsplit(path).path
        path = path.split("?", 1)[0] or "/"
        found = [(path, "")]
        for prefix in self.server_prefixes:
            if path.startswith(prefix + "/"):
                found.append((path[len(prefix):], prefix))
        return found

    def match(self, method: str, path: str) -> OperationMatch | None:
        """The operation for a concrete request, its path parameters and the prefix stripped.

        The bare path is tried first, then each server URL's path prefix removed
        (``/api/mlflow/api/2.0/...`` under server ``/api/mlflow``); among templates,
        the one with the most literal segments wins (``/usage/aggregate`` over ``/usage/{id}``).
        """
        method = method.upper()
        for candidate, prefix in self._candidates(path):
            for route in self._routes:
                found = route.regex.fullmatch(candidate)
                operation = self._by_route[route.template].get(method) if found else None
                if found and operation is not None:
                    values = [unquote(v) for v in found.groups()]
                    return OperationMatch(operation, dict(zip(_param_names(route.template),
                                                              values, strict=False)), prefix)
        return None

    def find_operation(self, method: str, path: str) -> Operation | None:
        found = self.match(method, path)
        return found.operation if found else None

    def allowed_methods(self, path: str) -> list[str]:
        """Methods the contract declares for a concrete path (for "method not allowed" hints)."""
        for candidate, _ in self._candidates(path):
            for route in self._routes:
                if route.regex.fullmatch(candidate):
                    return sorted(self._by_route[route.template])
        return []

    def closest_path(self, path: str) -> str | None:
        """The declared path template most like ``path`` (difflib), for "did you mean ...?"."""
        if path in self._closest:  # a journal repeats its mistakes; difflib is the slow part
            return self._closest[path]
        templates = list(self._by_route)
        best: tuple[float, str] | None = None
        for candidate, _ in self._candidates(path):
            for template in difflib.get_close_matches(candidate, templates, n=1, cutoff=0.5):
                score = difflib.SequenceMatcher(None, candidate, template).ratio()
                if best is None or score > best[0]:
                    best = (score, template)
        self._closest[path] = best[1] if best else None
        return self._closest[path]

    def __repr__(self) -> str:
        return f"Contract({self.display_path!r}, openapi={self.document['openapi']!r})"
