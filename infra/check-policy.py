#!/usr/bin/env python3
"""Keep the function's IAM policy least-privilege and in step with infra/policies/pulldoctor-read.json.

template.yaml's function policy (inline statements under Policies) and the stand-alone read
policy for CLI users must grant the same read actions, statement by statement (same Sid, same
actions, same resource once the template's ${AWS::...} variables are widened to "*").
sns:Publish, the dedup table's dynamodb:* and logs:* are the function's own business and are left
out of the comparison.

Least-privilege rules checked on both documents:
  * every statement has a unique Sid and Effect Allow, and no NotAction/NotResource;
  * no wildcard in an action name;
  * Resource "*" only for actions listed in RESOURCE_STAR_OK, i.e. actions whose API has no
    resource-level permissions. Adding an action there is a deliberate, reviewed edit.
  * sns:Publish is granted on the template's topic only (the created one or ExistingTopicArn);
  * dynamodb:* only on the dedup table;
  * the opt-in Slack secret and member-role policies are conditional, scoped to their one
    secret / role name, and never on "*".
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cfn_template import REPO, as_list, functions, inline_statements, load_template  # noqa: E402

READ_POLICY = REPO / "infra" / "policies" / "pulldoctor-read.json"
# Opt-in grant (template parameter RegistrySecretArns): reading registry-credential secrets.
SECRETS_POLICY = REPO / "infra" / "policies" / "pulldoctor-registry-secrets.json"
SECRETS_RESOURCE = "RegistrySecretValuePolicy"
# Reads only `pulldoctor preflight` makes (CLI users' role); the Lambda never calls them.
PREFLIGHT_POLICY = REPO / "infra" / "policies" / "pulldoctor-preflight.json"

# Actions that support no resource-level permissions (Service Authorization Reference:
# empty "Resource types" column), so they can only be granted on "*".
RESOURCE_STAR_OK = [
    re.compile(r"ecs:DescribeTaskDefinition"),
    re.compile(r"ec2:Describe[A-Za-z]+"),
    # A list call: it names no parameter, so it takes no resource ARN.
    re.compile(r"ssm:DescribeParameters"),
    # Registry-level ECR reads (no repository resource).
    re.compile(r"ecr:(DescribePullThroughCacheRules|GetRegistryPolicy)"),
    # Private DNS of the VPC: list calls without resource-level permissions (ListHostedZonesByVPC
    # can only be narrowed by the route53:VPCs condition key).
    re.compile(r"route53:ListHostedZonesByVPC"),
    re.compile(r"route53resolver:ListResolverRuleAssociations"),
    # Who else is hit: list calls without resource types (ListServices takes only the
    # ecs:cluster condition key).
    re.compile(r"ecs:(ListClusters|ListServices)"),
    # The history's CloudTrail lookups: LookupEvents has no resource type.
    re.compile(r"cloudtrail:LookupEvents"),
]
# Actions of the function that are not read calls and stay out of the read policy.
FUNCTION_ONLY = re.compile(r"(sns:Publish|dynamodb:(GetItem|PutItem|UpdateItem|DeleteItem)|logs:[A-Za-z]+)")
TOPIC = [{"Ref": "Topic"}, {"Fn::If": ["CreateTopic", {"Ref": "Topic"}, {"Ref": "ExistingTopicArn"}]}]
DEDUP_TABLE = {"Fn::GetAtt": ["DedupTable", "Arn"]}
# Opt-in policies of the function role: resource name -> (condition, {Sid: (actions, resource)}).
OPT_IN = {
    "SlackSecretPolicy": ("PostToSlack", {
        "SecretsManagerReadSlackWebhook": ({"secretsmanager:GetSecretValue"}, {"Ref": "SlackWebhookSecretArn"}),
        "KmsDecryptSlackWebhook": ({"kms:Decrypt"}, None),
    }),
    "SlackAppSecretPolicy": ("PostToSlackApp", {
        "SecretsManagerReadSlackApp": ({"secretsmanager:GetSecretValue"}, {"Ref": "SlackAppSecretArn"}),
        "KmsDecryptSlackApp": ({"kms:Decrypt"}, None),
    }),
    "PagerDutySecretPolicy": ("PageWithPagerDuty", {
        "SecretsManagerReadPagerDutyRoutingKey": ({"secretsmanager:GetSecretValue"}, {"Ref": "PagerDutySecretArn"}),
        "KmsDecryptPagerDutyRoutingKey": ({"kms:Decrypt"}, None),
    }),
    "TeamsSecretPolicy": ("PostToTeams", {
        "SecretsManagerReadTeamsWebhook": ({"secretsmanager:GetSecretValue"}, {"Ref": "TeamsWebhookSecretArn"}),
        "KmsDecryptTeamsWebhook": ({"kms:Decrypt"}, None),
    }),
    "MemberRolePolicy": ("AssumeMemberRoles", {
        "StsAssumeMemberReadRole": ({"sts:AssumeRole"}, {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}"}),
    }),
}

TEMPLATE_VARS = {
    "${AWS::Partition}": "aws",
    "${AWS::Region}": "*",
    "${AWS::AccountId}": "*",
}


def widen(resource: Any) -> Any:
    """Template resource -> the account/region-agnostic form used by the JSON policy."""
    if isinstance(resource, dict) and set(resource) == {"Fn::Sub"} and isinstance(resource["Fn::Sub"], str):
        s = resource["Fn::Sub"]
        for var, repl in TEMPLATE_VARS.items():
            s = s.replace(var, repl)
        if "${" in s:
            return {"Fn::Sub": s}
        return s
    return resource


def lint_statements(where: str, statements: list[dict[str, Any]]) -> list[str]:
    errors = []
    sids = [st.get("Sid") for st in statements]
    for st in statements:
        sid = st.get("Sid")
        label = f"{where} {sid or '<no Sid>'}"
        if not sid:
            errors.append(f"{label}: every statement needs a Sid")
        elif sids.count(sid) > 1:
            errors.append(f"{label}: duplicate Sid")
        if st.get("Effect") != "Allow":
            errors.append(f"{label}: Effect must be Allow")
        for bad in ("NotAction", "NotResource", "NotPrincipal"):
            if bad in st:
                errors.append(f"{label}: {bad} is not allowed")
        actions = as_list(st.get("Action", []))
        for a in actions:
            if not isinstance(a, str) or "*" in a or "?" in a:
                errors.append(f"{label}: wildcard or non-literal action {a!r}")
        if "*" in as_list(st.get("Resource", [])):
            for a in actions:
                if isinstance(a, str) and not any(p.fullmatch(a) for p in RESOURCE_STAR_OK):
                    errors.append(
                        f"{label}: {a} on Resource '*' - scope it to resource ARNs "
                        "(or, if the API has no resource-level permissions, add it to RESOURCE_STAR_OK)"
                    )
    return errors


def by_sid(statements: list[dict[str, Any]]) -> dict[str, tuple[frozenset[str], Any]]:
    return {
        st.get("Sid"): (frozenset(as_list(st.get("Action", []))), st.get("Resource"))
        for st in statements
    }


def main() -> int:
    errors: list[str] = []
    template = load_template()
    fns = functions(template)
    if len(fns) != 1:
        print(f"check-policy: expected one AWS::Serverless::Function, found {sorted(fns)}", file=sys.stderr)
        return 1
    (fn_name, fn), = fns.items()
    fn_statements = inline_statements(fn)
    read_doc = json.loads(READ_POLICY.read_text(encoding="utf-8"))
    read_statements = as_list(read_doc.get("Statement", []))
    if read_doc.get("Version") != "2012-10-17":
        errors.append(f"{READ_POLICY.relative_to(REPO)}: Version must be 2012-10-17")

    errors += lint_statements(f"template.yaml {fn_name}", fn_statements)
    errors += lint_statements(str(READ_POLICY.relative_to(REPO)), read_statements)
    preflight_doc = json.loads(PREFLIGHT_POLICY.read_text(encoding="utf-8"))
    errors += lint_statements(str(PREFLIGHT_POLICY.relative_to(REPO)), as_list(preflight_doc.get("Statement", [])))

    # Non-inline policies (managed policy names, SAM policy templates) would escape these checks.
    for p in as_list(fn.get("Properties", {}).get("Policies", [])):
        if not (isinstance(p, dict) and "Statement" in p):
            errors.append(f"template.yaml {fn_name}: only inline policy documents are allowed, found {p!r}")

    # sns:Publish: on the stack's own topic, in a statement of its own.
    for st in fn_statements:
        actions = as_list(st.get("Action", []))
        if "sns:Publish" in actions:
            if set(actions) != {"sns:Publish"} or st.get("Resource") not in TOPIC:
                errors.append(f"template.yaml {st.get('Sid')}: sns:Publish must stand alone, on the stack's topic")
        if any(a.startswith("dynamodb:") for a in actions) and st.get("Resource") != DEDUP_TABLE:
            errors.append(f"template.yaml {st.get('Sid')}: dynamodb actions only on !GetAtt DedupTable.Arn")

    for name, (condition, wanted) in OPT_IN.items():
        res = template.get("Resources", {}).get(name)
        if not res or res.get("Condition") != condition:
            errors.append(f"template.yaml {name}: must exist with Condition {condition} (opt-in)")
            continue
        got = as_list(res["Properties"]["PolicyDocument"]["Statement"])
        errors += lint_statements(f"template.yaml {name}", got)
        for st in got:
            sid = st.get("Sid")
            if sid not in wanted:
                errors.append(f"template.yaml {name} {sid}: unexpected statement")
                continue
            actions, resource = wanted[sid]
            if set(as_list(st.get("Action", []))) != actions:
                errors.append(f"template.yaml {name} {sid}: actions must be {sorted(actions)}")
            if resource is not None and st.get("Resource") != resource:
                errors.append(f"template.yaml {name} {sid}: resource must be {resource}")
            if "kms:Decrypt" in actions and "kms:ViaService" not in json.dumps(st.get("Condition", {})):
                errors.append(f"template.yaml {name} {sid}: kms:Decrypt needs a kms:ViaService condition")

    fn_read = [
        {**st, "Action": [a for a in as_list(st.get("Action", [])) if not FUNCTION_ONLY.fullmatch(a)]}
        for st in fn_statements
    ]
    fn_read = [st for st in fn_read if st["Action"]]
    fn_sids, json_sids = by_sid(fn_read), by_sid(read_statements)

    fn_actions = set().union(*(a for a, _ in fn_sids.values())) if fn_sids else set()
    json_actions = set().union(*(a for a, _ in json_sids.values())) if json_sids else set()
    if fn_actions != json_actions:
        if fn_actions - json_actions:
            errors.append(f"only in template.yaml: {sorted(fn_actions - json_actions)}")
        if json_actions - fn_actions:
            errors.append(f"only in {READ_POLICY.relative_to(REPO)}: {sorted(json_actions - fn_actions)}")
    for sid in sorted(set(fn_sids) | set(json_sids)):
        if sid not in fn_sids or sid not in json_sids:
            errors.append(f"statement {sid} is in only one of template.yaml and {READ_POLICY.name}")
            continue
        (fa, fr), (ja, jr) = fn_sids[sid], json_sids[sid]
        if fa != ja:
            errors.append(f"{sid}: actions differ: template {sorted(fa)} vs {READ_POLICY.name} {sorted(ja)}")
        if widen(fr) != jr:
            errors.append(f"{sid}: resource differs: template {widen(fr)!r} vs {READ_POLICY.name} {jr!r}")

    # The opt-in secret-value policy: conditional, same Sids and actions as its JSON twin.
    secrets_res = template.get("Resources", {}).get(SECRETS_RESOURCE)
    secrets_doc = json.loads(SECRETS_POLICY.read_text(encoding="utf-8"))
    if not secrets_res or not secrets_res.get("Condition"):
        errors.append(f"template.yaml {SECRETS_RESOURCE}: must exist and carry a Condition (opt-in)")
    else:
        tpl = by_sid(as_list(secrets_res["Properties"]["PolicyDocument"]["Statement"]))
        doc = by_sid(as_list(secrets_doc["Statement"]))
        if {k: a for k, (a, _) in tpl.items()} != {k: a for k, (a, _) in doc.items()}:
            errors.append(f"{SECRETS_RESOURCE}: Sids/actions differ from {SECRETS_POLICY.name}")
        for sid, (actions, resource) in tpl.items():
            if "*" in as_list(resource):
                errors.append(f"{SECRETS_RESOURCE} {sid}: Resource '*' is not allowed")
            if "kms:Decrypt" in actions:
                st = next(s for s in as_list(secrets_res["Properties"]["PolicyDocument"]["Statement"]) if s.get("Sid") == sid)
                if "kms:ViaService" not in json.dumps(st.get("Condition", {})):
                    errors.append(f"{SECRETS_RESOURCE} {sid}: kms:Decrypt needs a kms:ViaService condition")

    # The member-account read role grants the same reads (Sid by Sid), in its own account.
    member_path = REPO / "infra" / "member-account.yaml"
    member = load_template(member_path)
    role = member.get("Resources", {}).get("ReadRole", {}).get("Properties", {})
    member_statements = [st for pol in role.get("Policies", []) for st in as_list(pol["PolicyDocument"]["Statement"])]
    errors += lint_statements(str(member_path.relative_to(REPO)), member_statements)
    member_sids = {sid: actions for sid, (actions, _) in by_sid(member_statements).items()}
    if member_sids != {sid: actions for sid, (actions, _) in json_sids.items()}:
        errors.append(f"{member_path.relative_to(REPO)} ReadRole: Sids/actions differ from {READ_POLICY.name}")

    if errors:
        print("check-policy: FAILED", file=sys.stderr)
        for e in errors:
            print(f"  - {e}", file=sys.stderr)
        return 1
    print(
        f"check-policy: ok ({len(json_actions)} read actions in {len(json_sids)} statements, "
        f"template.yaml {fn_name} == {READ_POLICY.relative_to(REPO)}; sns:Publish on the stack's topic only; "
        f"dynamodb on the dedup table only; opt-in {', '.join(OPT_IN)} scoped)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
