"""The AWS actions each operator, sensor and hook method calls; the documented IAM policies are built from here.

``tests/test_iam.py`` runs each against the local emulator in every mode and fails when a call is missing from
its declaration or a declared action is never called; the docs' policies come from :func:`policies_markdown`.
Imports nothing from Airflow, so the documentation build reads it as it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

SERVICE_PRINCIPAL = "machinelearning.amazonaws.com"
# Calls whose IAM action is named otherwise than the API operation.
_S3_ACTIONS = {
    "HeadObject": "GetObject",
    "ListObjectsV2": "ListBucket",
    "ListObjects": "ListBucket",
    "HeadBucket": "ListBucket",
}
# The Data Pipeline roles an RDS data source names (resource_role, service_role), as the Developer Guide names them.
PIPELINE_ROLES = ("DataPipelineDefaultResourceRole", "DataPipelineDefaultRole")
# Request members that name a role the service assumes: the caller needs iam:PassRole on it.
PASSED_ROLES = ("RoleARN", "ResourceRole", "ServiceRole")


def action_of(service: str, operation: str) -> str:
    """The IAM action an API call needs, e.g. ``s3`` ``HeadObject`` is ``GetObject``."""
    return _S3_ACTIONS.get(operation, operation) if service == "s3" else operation


@dataclass(frozen=True)
class Permission:
    """
    One action a task or method needs, on what, and when.

    :param action: The IAM action, e.g. ``machinelearning:GetBatchPrediction``.
    :param resources: What it acts on: Amazon ML object types (``batchprediction``, ``mlmodel``, ...), ``*`` for
        list calls, ``output`` for the batch prediction's output prefix, ``role`` for the role passed in
        ``role_arn``, ``pipeline-roles`` for an RDS data source's Data Pipeline roles.
    :param when: The parameter or mode that makes the call, empty when every run makes it.
    """

    action: str
    resources: tuple[str, ...]
    when: str = ""


def _ml(operation: str, *types: str, when: str = "") -> Permission:
    return Permission(f"machinelearning:{operation}", types, when)


def _created(noun: str, object_type: str, create: str, *referenced: str) -> tuple[Permission, ...]:
    """What every create operator calls: look up an earlier try's object, create, tag, wait; delete on kill."""
    return (
        _ml(create, object_type, *referenced),
        _ml(f"Get{noun}", object_type),
        _ml("AddTags", object_type),
        _ml("DescribeTags", object_type),
        _ml(f"Delete{noun}", object_type, when="`delete_on_kill=True`"),
    )


# The role in role_arn, which the service assumes to read the database and write the staging location.
_PASS_ROLE = Permission("iam:PassRole", ("role",))
_LIST_BATCH_PREDICTIONS = _ml(
    "DescribeBatchPredictions", "*", when="`deferrable=True` (several jobs waiting)"
)
_READ_MANIFEST = Permission("s3:GetObject", ("output",))

# What each operator and sensor calls, by class name, in every mode (waiting in the worker, deferred, a retry).
TASKS: dict[str, tuple[Permission, ...]] = {
    "CreateDataSourceFromS3Operator": _created("DataSource", "datasource", "CreateDataSourceFromS3"),
    "CreateDataSourceFromRedshiftOperator": (
        *_created("DataSource", "datasource", "CreateDataSourceFromRedshift"),
        _PASS_ROLE,
    ),
    "CreateDataSourceFromRDSOperator": (
        *_created("DataSource", "datasource", "CreateDataSourceFromRDS"),
        # The Data Pipeline roles too (resource_role, service_role).
        Permission("iam:PassRole", ("role", "pipeline-roles")),
    ),
    "CreateMLModelOperator": _created("MLModel", "mlmodel", "CreateMLModel", "datasource"),
    "UpdateMLModelScoreThresholdOperator": (_ml("GetMLModel", "mlmodel"), _ml("UpdateMLModel", "mlmodel")),
    "CreateEvaluationOperator": _created(
        "Evaluation", "evaluation", "CreateEvaluation", "mlmodel", "datasource"
    ),
    "CreateBatchPredictionOperator": (
        *_created("BatchPrediction", "batchprediction", "CreateBatchPrediction", "mlmodel", "datasource"),
        _LIST_BATCH_PREDICTIONS,
        Permission("s3:GetObject", ("output",), "`outlets` (the manifest, for the asset's extra)"),
    ),
    "CreateRealtimeEndpointOperator": (
        _ml("CreateRealtimeEndpoint", "mlmodel"),
        _ml("GetMLModel", "mlmodel"),
    ),
    "DeleteRealtimeEndpointOperator": (
        _ml("DeleteRealtimeEndpoint", "mlmodel"),
        _ml("GetMLModel", "mlmodel"),
    ),
    "DataSourceSensor": (_ml("GetDataSource", "datasource"),),
    "MLModelSensor": (_ml("GetMLModel", "mlmodel"),),
    "EvaluationSensor": (_ml("GetEvaluation", "evaluation"),),
    "BatchPredictionSensor": (
        _ml("GetBatchPrediction", "batchprediction"),
        _LIST_BATCH_PREDICTIONS,
        _READ_MANIFEST,
    ),
}

# What the hook's methods a DAG calls directly need, beyond what the tasks above already declare.
HOOK_METHODS: dict[str, tuple[Permission, ...]] = {
    "get_results": (_READ_MANIFEST,),
    "iter_results": (
        _ml("GetBatchPrediction", "batchprediction", when="given a batch prediction ID"),
        _READ_MANIFEST,
    ),
    "predict": (_ml("GetMLModel", "mlmodel", when="no `predict_endpoint` given"), _ml("Predict", "mlmodel")),
    "update_ml_model": (_ml("UpdateMLModel", "mlmodel"),),
    "get_endpoint_info": (_ml("GetMLModel", "mlmodel"),),
    "create_realtime_endpoint": (_ml("CreateRealtimeEndpoint", "mlmodel"),),
    "delete_realtime_endpoint": (_ml("DeleteRealtimeEndpoint", "mlmodel"),),
    "wait_for_realtime_endpoint": (_ml("GetMLModel", "mlmodel"),),
}


def _resources(
    permission: Permission, region: str, account: str, output_prefix: str, roles: list[str]
) -> list[str]:
    found: list[str] = []
    for resource in permission.resources:
        if resource == "*":
            found.append("*")
        elif resource == "output":
            found.append(f"arn:aws:s3:::{output_prefix}*")
        elif resource == "role":
            found.extend(f"arn:aws:iam::{account}:role/{role}" for role in roles)
        elif resource == "pipeline-roles":
            found.extend(f"arn:aws:iam::{account}:role/{role}" for role in PIPELINE_ROLES)
        else:
            found.append(f"arn:aws:machinelearning:{region}:{account}:{resource}/*")
    return found


def policy(
    permissions: list[Permission],
    *,
    region: str = "us-east-1",
    account: str = "123456789012",
    output_prefix: str = "my-bucket/predictions/",
    roles: tuple[str, ...] = ("AmazonMLDatabaseRole",),
) -> dict[str, Any]:
    """An identity policy granting ``permissions``: one statement per service, actions grouped by what they act on."""
    grouped: dict[tuple[str, tuple[str, ...]], set[str]] = {}
    for permission in permissions:
        resources = tuple(sorted(set(_resources(permission, region, account, output_prefix, list(roles)))))
        grouped.setdefault((permission.action.partition(":")[0], resources), set()).add(permission.action)
    statements = []
    for (service, resources), actions in sorted(grouped.items()):
        statement: dict[str, Any] = {
            "Effect": "Allow",
            "Action": sorted(actions) if len(actions) > 1 else next(iter(actions)),
            "Resource": list(resources) if len(resources) > 1 else resources[0],
        }
        if service == "iam":
            statement["Condition"] = {"StringEquals": {"iam:PassedToService": SERVICE_PRINCIPAL}}
        statements.append(statement)
    return {"Version": "2012-10-17", "Statement": statements}


def everything() -> list[Permission]:
    """Every permission of every task and hook method: the policy for a deployment that uses them all."""
    return [
        permission for permissions in (*TASKS.values(), *HOOK_METHODS.values()) for permission in permissions
    ]


def bucket_policy(
    bucket: str = "my-bucket",
    *,
    inputs: tuple[str, ...] = ("customers/",),
    outputs: tuple[str, ...] = ("predictions/",),
    staging: tuple[str, ...] = ("staging/",),
    region: str = "us-east-1",
    account: str = "123456789012",
) -> dict[str, Any]:
    """
    The bucket policy that lets the service itself read inputs, write outputs and stage database query results.

    Every statement is limited to your account's Amazon ML (``aws:SourceAccount`` and ``aws:SourceArn``), so no
    other account can have the service read or write your bucket on its behalf.
    """
    condition = {
        "StringEquals": {"aws:SourceAccount": account},
        "ArnLike": {"aws:SourceArn": f"arn:aws:machinelearning:{region}:{account}:*"},
    }

    def statement(sid: str, action: str | list[str], resource: str, **extra: Any) -> dict[str, Any]:
        merged = {**condition, **extra}
        return {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"Service": SERVICE_PRINCIPAL},
            "Action": action,
            "Resource": resource,
            "Condition": merged,
        }

    def objects(prefixes: tuple[str, ...]) -> Any:
        arns = [f"arn:aws:s3:::{bucket}/{prefix}*" for prefix in prefixes]
        return arns if len(arns) > 1 else arns[0]

    written = (*outputs, *staging)
    return {
        "Version": "2012-10-17",
        "Statement": [
            statement("ReadInputs", "s3:GetObject", objects(inputs)),
            statement(
                "ListInputsOutputsAndStaging",
                "s3:ListBucket",
                f"arn:aws:s3:::{bucket}",
                StringLike={"s3:prefix": [f"{prefix}*" for prefix in (*inputs, *written)]},
            ),
            statement("WriteOutputsAndStaging", ["s3:GetObject", "s3:PutObject"], objects(written)),
            statement(
                "OwnOutputsAndStaging",
                "s3:PutObjectAcl",
                objects(written),
                StringEquals={**condition["StringEquals"], "s3:x-amz-acl": "bucket-owner-full-control"},
            ),
        ],
    }


def _json(document: dict[str, Any]) -> str:
    return "```json\n" + json.dumps(document, indent=2) + "\n```\n"


def policies_markdown() -> str:
    """The policies section of the docs: one table of what each task calls, the policies built from it."""
    lines = [
        "| Task or hook method | Actions (Amazon ML's unless prefixed) | Only with |",
        "|---|---|---|",
    ]
    for name, permissions in [
        *TASKS.items(),
        *((f"MachineLearningHook.{m}", p) for m, p in HOOK_METHODS.items()),
    ]:
        always = ", ".join(f"`{_short(p.action)}`" for p in permissions if not p.when)
        conditional = "; ".join(f"`{_short(p.action)}`: {p.when}" for p in permissions if p.when)
        lines.append(f"| `{name}` | {always or '-'} | {conditional or '-'} |")
    sections = ["\n".join(lines) + "\n"]
    for name, permissions in TASKS.items():
        sections.append(f'??? example "{name}"\n\n' + _indent(_json(policy(list(permissions)))))
    sections.append("A policy for every operator, sensor and hook method:\n\n" + _json(policy(everything())))
    return "\n".join(sections)


def bucket_policy_markdown() -> str:
    """The bucket policy of the docs' example: inputs under ``customers/``, outputs and staging apart."""
    return _json(bucket_policy())


def _short(action: str) -> str:
    return action.removeprefix("machinelearning:")


def _indent(text: str) -> str:
    return "".join(f"    {line}" if line.strip() else line for line in text.splitlines(keepends=True))
