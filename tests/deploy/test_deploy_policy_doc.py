"""docs/aws-deployment.md against deploy/indata-backup.yaml: the page explains the roles' policies statement by
statement, and the template holds them. Every statement (Sid) of both roles' policies is named on the page, and
every IAM action the page names is one the template grants, so neither can change without the other."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "deploy" / "indata-backup.yaml"
PAGE = REPO / "docs" / "aws-deployment.md"
ACTION = re.compile(r"`((?:s3|glue|iam|athena|logs|kms|sts):[A-Za-z]+)`")  # not `glue:*` (the managed policy)


class _TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (!Sub, !If, ...) read as their long forms."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        return {name: value.split(".", 1) if suffix == "GetAtt" else value}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}


_TemplateLoader.add_multi_constructor("!", _intrinsic)


def load_template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=_TemplateLoader)  # noqa: S506 (a SafeLoader subclass)


def policy_statements() -> dict[str, list[dict[str, Any]]]:
    """Each role's statements, both branches of an Fn::If taken (the KMS statement is conditional)."""
    template = load_template()
    found: dict[str, list[dict[str, Any]]] = {}
    for name in ("GlueJobRole", "WorkerRole"):
        (policy,) = template["Resources"][name]["Properties"]["Policies"]
        statements = []
        for statement in policy["PolicyDocument"]["Statement"]:
            if "Fn::If" in statement:
                statements += [branch for branch in statement["Fn::If"][1:] if "Sid" in branch]
            else:
                statements.append(statement)
        found[name] = statements
    return found


def granted_actions() -> set[str]:
    actions: set[str] = set()
    for statements in policy_statements().values():
        for statement in statements:
            action = statement["Action"]
            actions.update([action] if isinstance(action, str) else action)
    return actions


def policy_sections() -> str:
    """The page's two IAM sections (the deploy identity's actions, above them, are no role's)."""
    page = PAGE.read_text()
    return page[page.index("## IAM: the Airflow worker role"):page.index("## The same deploy on the local stack")]


def test_the_page_names_every_statement_of_both_policies():
    page = policy_sections()
    missing = {role: [s["Sid"] for s in statements if f"`{s['Sid']}`" not in page]
               for role, statements in policy_statements().items()}
    assert missing == {"GlueJobRole": [], "WorkerRole": []}


def test_every_action_the_page_names_is_granted_by_the_template():
    named = set(ACTION.findall(policy_sections()))
    assert len(named) > 30  # the page does list the actions
    assert sorted(named - granted_actions()) == []


def test_every_granted_action_is_explained_on_the_page():
    named = set(ACTION.findall(policy_sections()))
    assert sorted(granted_actions() - named) == []
