"""Read template.yaml for the infra checks (standard library + PyYAML only).

CloudFormation short-form tags (!Ref, !Sub, !GetAtt, ...) become their long form
({"Ref": ...}, {"Fn::Sub": ...}), so the rest of the checks see plain data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        return yaml.load(f, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: res
        for name, res in template.get("Resources", {}).items()
        if res.get("Type") == "AWS::Serverless::Function"
    }


def event_patterns(template: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every EventBridge pattern in the template: SAM EventBridgeRule events and AWS::Events::Rule."""
    found: list[tuple[str, Any]] = []
    for name, res in template.get("Resources", {}).items():
        props = res.get("Properties", {}) or {}
        if res.get("Type") == "AWS::Serverless::Function":
            for ev_name, ev in (props.get("Events") or {}).items():
                if ev.get("Type") in ("EventBridgeRule", "CloudWatchEvent"):
                    found.append((f"{name}.Events.{ev_name}", ev["Properties"]["Pattern"]))
        elif res.get("Type") == "AWS::Events::Rule" and "EventPattern" in props:
            found.append((name, props["EventPattern"]))
    return found


def inline_statements(function: dict[str, Any]) -> list[dict[str, Any]]:
    """Statements of the inline policy documents in a SAM function's Policies."""
    policies = function.get("Properties", {}).get("Policies", [])
    if isinstance(policies, (str, dict)):
        policies = [policies]
    statements: list[dict[str, Any]] = []
    for p in policies:
        if isinstance(p, dict) and "Statement" in p:
            st = p["Statement"]
            statements.extend(st if isinstance(st, list) else [st])
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
