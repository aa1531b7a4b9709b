"""Key Vault Secure Key Release policies: build one from enclave measurements, validate, evaluate against claims.

The grammar (Key Vault / Managed HSM, version 1.0.0): a policy is ``{"version": "1.0.0", "anyOf": [authority...]}``;
an authority is ``{"authority": URL, "allOf"|"anyOf": [condition...]}``; a condition is a nested ``allOf``/``anyOf``
or ``{"claim": NAME, OP: VALUE}`` with OP one of equals, notEquals, less, lessOrEquals, greater, greaterOrEquals,
exists. Key Vault evaluates it; we evaluate it too, to tell a user *which* claim failed (``keys policy check``
and the error of a refused release).

Microsoft's own published policies go beyond that grammar, and Key Vault accepts them, so we do too:
``"version": "0.2"`` (SKR sidecar scripts) or no version at all (the REST spec's ``ReleasePolicy-example``), the
spec example's ``{"claim", "condition": "equals", "value"}`` form, string values compared with boolean and number
claims (``"equals": "false"``, ``"equals": "0"``: the sidecar's policies), and dotted claim names navigating
nested claims (``x-ms-isolation-tee.x-ms-attestation-type``). How Key Vault coerces types is not documented; the
rule in :func:`_equal` is inferred from those samples (docs/ATTESTATION.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

POLICY_VERSION = "1.0.0"
ACCEPTED_VERSIONS = (None, "0.2", "1.0.0", "1.0.1", "1.0.2")
# What Microsoft's reference SEV-SNP policies pin besides the measurement (SKR sidecar importkeyconfig.json):
# no debuggable guest (the host could read its memory, the released key included), and VMPL 0.
SEVSNP_PINS: tuple[tuple[str, Any], ...] = (("x-ms-sevsnpvm-is-debuggable", False), ("x-ms-sevsnpvm-vmpl", 0))
OPERATORS = ("equals", "notEquals", "less", "lessOrEquals", "greater", "greaterOrEquals", "exists")
NONE_AUTHORITY = "none"  # development only: the authority of unsigned tokens from attestation=none (emulator)
MAX_POLICY_BYTES = 64 * 1024


def normalize_authority(url: str) -> str:
    return url.strip().rstrip("/").lower()


def _hex(value: str, name: str, length: int) -> str:
    text = value.strip().lower()
    if len(text) != 2 * length or any(ch not in "0123456789abcdef" for ch in text):
        raise ConfigError(f"{name} {value!r}: expected {2 * length} hex digits; what to do: copy it from the "
                          "enclave's SIGSTRUCT / confidential container policy")
    return text


def build_policy(
    maa_endpoint: str,
    *,
    sgx_mrenclave: str | None = None,
    sgx_mrsigner: str | None = None,
    sgx_isvprodid: int | None = None,
    sgx_min_svn: int | None = None,
    sevsnp_hostdata: str | None = None,
) -> dict[str, Any]:
    """A release policy pinning the MAA authority and the given measurements (SGX, SEV-SNP, or both)."""
    if not maa_endpoint or not maa_endpoint.startswith("https://"):
        raise ConfigError(f"--maa-endpoint {maa_endpoint!r}: must be the https URL of your attestation provider")
    authority = maa_endpoint.rstrip("/") + "/"
    branches: list[dict[str, Any]] = []
    if sgx_mrenclave or sgx_mrsigner:
        conditions: list[dict[str, Any]] = [
            {"claim": "x-ms-attestation-type", "equals": "sgx"},
            {"claim": "x-ms-sgx-is-debuggable", "equals": False},
        ]
        if sgx_mrenclave:
            conditions.append({"claim": "x-ms-sgx-mrenclave", "equals": _hex(sgx_mrenclave, "--sgx-mrenclave", 32)})
        if sgx_mrsigner:
            conditions.append({"claim": "x-ms-sgx-mrsigner", "equals": _hex(sgx_mrsigner, "--sgx-mrsigner", 32)})
            if sgx_isvprodid is None and not sgx_mrenclave:
                raise ConfigError("--sgx-mrsigner alone admits every enclave of that signer; add --sgx-isvprodid")
        if sgx_isvprodid is not None:
            conditions.append({"claim": "x-ms-sgx-product-id", "equals": int(sgx_isvprodid)})
        if sgx_min_svn is not None:
            conditions.append({"claim": "x-ms-sgx-svn", "greaterOrEquals": int(sgx_min_svn)})
        branches.append({"authority": authority, "allOf": conditions})
    elif sgx_isvprodid is not None:
        raise ConfigError("--sgx-isvprodid needs --sgx-mrenclave or --sgx-mrsigner")
    if sevsnp_hostdata:
        branches.append(
            {
                "authority": authority,
                "allOf": [
                    {"claim": "x-ms-attestation-type", "equals": "sevsnpvm"},
                    {"claim": "x-ms-compliance-status", "equals": "azure-compliant-uvm"},
                    {"claim": "x-ms-sevsnpvm-hostdata", "equals": _hex(sevsnp_hostdata, "--sevsnp-hostdata", 32)},
                    *({"claim": claim, "equals": value} for claim, value in SEVSNP_PINS),
                ],
            }
        )
    if not branches:
        raise ConfigError("a release policy needs measurements: --sgx-mrenclave/--sgx-mrsigner or --sevsnp-hostdata "
                          "(or give --release-policy FILE)")
    return {"version": POLICY_VERSION, "anyOf": branches}


def parse_policy(data: bytes | str | dict[str, Any], source: str) -> dict[str, Any]:
    """Validate the policy's shape (so a typo is refused when the key is created, not when a job runs)."""
    if isinstance(data, (bytes, str)):
        if len(data) > MAX_POLICY_BYTES:
            raise ConfigError(f"{source}: release policy larger than {MAX_POLICY_BYTES} bytes")
        try:
            policy = json.loads(data)
        except ValueError as exc:
            raise ConfigError(f"{source}: release policy is not JSON ({exc})") from None
    else:
        policy = data
    if not isinstance(policy, dict):
        raise ConfigError(f"{source}: release policy must be a JSON object")
    if policy.get("version") not in ACCEPTED_VERSIONS:
        raise ConfigError(f"{source}: release policy version {policy.get('version')!r} unknown; use \"1.0.0\"")
    authorities = _key(policy, "anyOf")
    if not isinstance(authorities, list) or not authorities:
        raise ConfigError(f"{source}: release policy needs a non-empty anyOf list of authorities")
    for entry in authorities:
        if not isinstance(entry, dict) or not isinstance(_key(entry, "authority"), str):
            raise ConfigError(f"{source}: every anyOf entry of a release policy needs an 'authority' URL")
        rules = [k for k in entry if k.lower() in ("allof", "anyof")]
        if len(rules) != 1:
            raise ConfigError(f"{source}: authority {entry.get('authority')} needs exactly one allOf or anyOf")
        _check_conditions(entry[rules[0]], source)
    return policy


def _key(obj: dict[str, Any], name: str) -> Any:
    for key, value in obj.items():
        if key.lower() == name.lower():
            return value
    return None


def _check_conditions(conditions: Any, source: str) -> None:
    if not isinstance(conditions, list) or not conditions:
        raise ConfigError(f"{source}: allOf/anyOf must be a non-empty list of conditions")
    for cond in conditions:
        if not isinstance(cond, dict):
            raise ConfigError(f"{source}: condition {cond!r} is not an object")
        nested = [k for k in cond if k.lower() in ("allof", "anyof")]
        if nested:
            _check_conditions(cond[nested[0]], source)
            continue
        if not isinstance(cond.get("claim"), str):
            raise ConfigError(f"{source}: condition {json.dumps(cond)} has no 'claim'")
        if "condition" in cond:
            if set(cond) != {"claim", "condition", "value"} or cond["condition"] not in OPERATORS:
                raise ConfigError(f"{source}: condition on {cond['claim']} needs 'condition' (one of "
                                  f"{', '.join(OPERATORS)}) and 'value'")
            continue
        ops = [k for k in cond if k != "claim"]
        if len(ops) != 1 or ops[0] not in OPERATORS:
            raise ConfigError(f"{source}: condition on {cond['claim']} needs one operator of {', '.join(OPERATORS)}")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str  # empty when ok; otherwise which claim failed and how


_MISSING = object()


def claim_value(claims: dict[str, Any], name: str) -> Any:
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):  # nested claims such as x-ms-isolation-tee.x-ms-attestation-type
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _show(value: Any) -> str:
    return "absent" if value is _MISSING else json.dumps(value)


def _condition(cond: dict[str, Any], claims: dict[str, Any]) -> str:
    """Empty string when the condition holds, else the reason."""
    nested = [k for k in cond if k.lower() in ("allof", "anyof")]
    if nested:
        return _conditions(nested[0].lower(), cond[nested[0]], claims)
    name = cond["claim"]
    if "condition" in cond:  # the REST spec example's form: {"claim", "condition": "equals", "value"}
        op, want = str(cond["condition"]), cond.get("value")
    else:
        op = next(k for k in cond if k != "claim")
        want = cond[op]
    have = claim_value(claims, name)
    if op == "exists":
        return "" if (have is not _MISSING) == bool(want) else f"claim {name}: policy requires exists={want}"
    if have is _MISSING:
        return f"claim {name}: absent from the token, policy requires {op} {json.dumps(want)}"
    if op == "equals":
        ok = _equal(have, want)
    elif op == "notEquals":
        ok = not _equal(have, want)
    else:
        a, b = _num(have), _num(want)
        ok = a is not None and b is not None and {
            "less": a < b, "lessOrEquals": a <= b, "greater": a > b, "greaterOrEquals": a >= b
        }[op]
    return "" if ok else f"claim {name}: token has {_show(have)}, policy requires {op} {json.dumps(want)}"


def _equal(have: Any, want: Any) -> bool:
    """Key Vault's ``equals`` as inferred from Microsoft's samples (docs/ATTESTATION.md).

    Same JSON type: equality (numbers numerically; strings case-sensitively). A string against a boolean: the
    string is ``"true"``/``"false"`` (any case), as in the sidecar's ``"equals": "false"``. A string against a
    number: the string is a JSON number of the same value (``"0"`` equals 0). Nothing else is equal: true is not 1,
    objects and arrays never match.
    """
    if isinstance(have, (dict, list)) or isinstance(want, (dict, list)):
        return False
    if isinstance(have, bool) or isinstance(want, bool):
        if isinstance(have, bool) and isinstance(want, bool):
            return have is want
        text, flag = (want, have) if isinstance(have, bool) else (have, want)
        return isinstance(text, str) and text.strip().lower() == ("true" if flag else "false")
    if _num(have) is not None and _num(want) is not None:
        return _num(have) == _num(want)
    if isinstance(have, str) and isinstance(want, str):
        return have == want
    text, number = (have, want) if isinstance(have, str) else (want, have)
    if not isinstance(text, str) or _num(number) is None:
        return False
    try:
        parsed = json.loads(text.strip())
    except ValueError:
        return False
    return _num(parsed) is not None and _num(parsed) == _num(number)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _conditions(kind: str, conditions: list[dict[str, Any]], claims: dict[str, Any]) -> str:
    reasons = [_condition(c, claims) for c in conditions]
    failed = [r for r in reasons if r]
    if kind == "allof":
        return failed[0] if failed else ""
    return "" if len(failed) < len(reasons) else "none of: " + "; ".join(failed)


def evaluate(policy: dict[str, Any], claims: dict[str, Any], issuer: str) -> Verdict:
    """Does a token from ``issuer`` with ``claims`` satisfy the policy? The reason names the first failing claim."""
    authorities = _key(policy, "anyOf") or []
    matching = [a for a in authorities if normalize_authority(str(_key(a, "authority"))) == normalize_authority(issuer)]
    if not matching:
        allowed = ", ".join(str(_key(a, "authority")) for a in authorities)
        return Verdict(False, f"token issuer {issuer} is not an authority of the policy (allowed: {allowed})")
    reasons = []
    for entry in matching:
        rule = next(k for k in entry if k.lower() in ("allof", "anyof"))
        reason = _conditions(rule.lower(), entry[rule], claims)
        if not reason:
            return Verdict(True, "")
        reasons.append(reason)
    return Verdict(False, reasons[0] if len(reasons) == 1 else "none of: " + " | ".join(reasons))


def _claims_pinned(conditions: Any) -> dict[str, list[Any]]:
    """claim -> values an ``allOf`` list pins with ``equals`` (top level only: a pin inside anyOf is optional)."""
    pinned: dict[str, list[Any]] = {}
    for cond in conditions if isinstance(conditions, list) else []:
        if not isinstance(cond, dict) or not isinstance(cond.get("claim"), str):
            continue
        if cond.get("condition") == "equals":
            pinned.setdefault(cond["claim"], []).append(cond.get("value"))
        elif "equals" in cond:
            pinned.setdefault(cond["claim"], []).append(cond["equals"])
    return pinned


def missing_pins(policy: dict[str, Any]) -> list[str]:
    """Warnings for SEV-SNP branches that leave out what Microsoft's reference policies pin.

    A branch pinning ``x-ms-attestation-type`` = sevsnpvm must also pin ``x-ms-sevsnpvm-is-debuggable`` = false
    (a debuggable guest's memory, the released key included, is readable by the host) and ``x-ms-sevsnpvm-vmpl``
    = 0. Dotted (``x-ms-isolation-tee.``) names count as the same claims.
    """
    warnings = []
    for entry in _key(policy, "anyOf") or []:
        if not isinstance(entry, dict):
            continue
        rule = next((k for k in entry if k.lower() == "allof"), None)
        pinned = _claims_pinned(entry.get(rule)) if rule else {}
        plain = {name.rsplit(".", 1)[-1] if name.startswith("x-ms-isolation-tee.") else name: values
                 for name, values in pinned.items()}
        if not any(_equal(v, "sevsnpvm") for v in plain.get("x-ms-attestation-type", [])):
            continue
        for claim, value in SEVSNP_PINS:
            if not any(_equal(v, value) for v in plain.get(claim, [])):
                warnings.append(f"authority {_key(entry, 'authority')}: SEV-SNP branch does not pin {claim} equals "
                                f"{json.dumps(value)} (Microsoft's reference policies do)")
    return warnings


def allows_unattested(policy: dict[str, Any]) -> bool:
    return any(normalize_authority(str(_key(a, "authority"))) == NONE_AUTHORITY for a in _key(policy, "anyOf") or [])


__all__ = [
    "NONE_AUTHORITY",
    "SEVSNP_PINS",
    "Verdict",
    "allows_unattested",
    "build_policy",
    "evaluate",
    "missing_pins",
    "parse_policy",
]
