"""Security requirements compared by what they ask of the consumer, not by their names.

An operation's ``security`` is a list of alternatives; each needs some schemes (an HTTP bearer
token, an API key in a header...). A consumer meets one current alternative: a change strands it
unless some candidate alternative asks for no more than that one does.
"""

from __future__ import annotations

from collections.abc import Iterable

from hokusai_contracts.contracts.loading import Contract, Operation

__all__ = ["Alternative", "alternatives", "describe", "security_pointer"]

# A requirement alternative: the schemes it needs, each as (type, scheme or location, header name)
# plus its scopes. Schemes are compared by what they ask of the consumer, not by their names.
_Scheme = tuple[str, str, str]
Alternative = frozenset[tuple[_Scheme, frozenset[str]]]


def _scheme(contract: Contract, name: str) -> _Scheme:
    spec = ((contract.document.get("components") or {}).get("securitySchemes") or {}).get(name)
    if isinstance(spec, dict) and isinstance(spec.get("$ref"), str):
        spec = contract.deref(spec["$ref"])[0]
    if not isinstance(spec, dict):
        return ("unknown", name, "")
    kind = str(spec.get("type", ""))
    if kind == "http":
        return (kind, str(spec.get("scheme", "")).lower(), "Authorization")
    if kind == "apiKey":
        where = str(spec.get("in", ""))
        header = str(spec.get("name", ""))
        return (kind, where, header.lower() if where == "header" else header)  # header names: any case
    return (kind, name, "Authorization" if kind in ("oauth2", "openIdConnect") else "")


def alternatives(contract: Contract, op: Operation) -> frozenset[Alternative]:
    if not op.security:
        return frozenset({frozenset()})  # no requirement: anonymous callers get in
    return frozenset(
        frozenset((_scheme(contract, name), frozenset(scopes or ())) for name, scopes in requirement.items())
        for requirement in op.security
    )


def describe(alternatives: Iterable[Alternative]) -> str:
    texts = []
    for alt in sorted(alternatives, key=lambda a: sorted(map(str, a))):
        parts = [f"apiKey {header} in {how}" if kind == "apiKey" else
                 f"http {how} ({header} header)" if kind == "http" else f"{kind} {how}"
                 for (kind, how, header), _ in sorted(alt, key=str)]
        texts.append(" + ".join(parts) if parts else "no credentials")
    return " or ".join(texts)


def security_pointer(contract: Contract, op: Operation) -> str:
    if "security" in op.spec:
        return op.pointer + "/security"
    return "/security" if "security" in contract.document else op.pointer
