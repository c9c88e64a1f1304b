"""The kind table is the one description of each kind: every class it names exists and says the same."""

from __future__ import annotations

import pytest
from botocore import xform_name

from airflow_ml_provider.exceptions import EntityFailedError
from airflow_ml_provider.get_provider_info import ENDPOINT_OPERATORS, get_provider_info
from airflow_ml_provider.kinds import KINDS, VARIANTS, _load
from airflow_ml_provider.links.machine_learning import MachineLearningConsoleLink


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_every_class_the_table_names_is_of_its_kind(kind):
    assert issubclass(kind.failed_error, EntityFailedError)
    assert issubclass(kind.link_class, MachineLearningConsoleLink)
    operator, sensor = _load(kind.operator), _load(kind.sensor)
    assert operator.kind is sensor.kind is kind
    assert kind.id_param in operator.template_fields
    assert kind.id_param in sensor.template_fields
    assert [type(link) for link in operator.operator_extra_links] == [kind.link_class]
    trigger = kind.new_trigger("some-id", waiter_delay=5)
    assert trigger.kind is kind
    path, kwargs = trigger.serialize()
    assert path == kind.trigger
    assert kwargs[kind.id_param] == "some-id"


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_the_service_calls_name_the_kind_and_its_id(kind):
    calls = []

    class Client:
        def __getattr__(self, name):
            return lambda **kwargs: calls.append((name, kwargs)) or {kind.id_key: "x"}

    kind.get(Client(), "x")
    kind.delete(Client(), "x")
    kind.create(Client(), {kind.id_key: "x"})
    # A data source is read Verbose: only then does the service show a database source's query.
    verbose = {"Verbose": True} if kind.operation == "DataSource" else {}
    assert calls == [
        (xform_name(f"Get{kind.operation}"), {kind.id_key: "x", **verbose}),
        (xform_name(f"Delete{kind.operation}"), {kind.id_key: "x"}),
        (xform_name(kind.create_operation), {kind.id_key: "x"}),
    ]


def test_airflow_learns_every_kind_from_the_table():
    info = get_provider_info()
    for section, attribute in (("operators", "operator"), ("sensors", "sensor"), ("triggers", "trigger")):
        modules = info[section][0]["python-modules"]
        extra = [path.rpartition(".")[0] for path in ENDPOINT_OPERATORS] if section == "operators" else []
        assert [getattr(kind, attribute).rpartition(".")[0] for kind in KINDS] + list(
            dict.fromkeys(extra)
        ) == modules
    assert info["extra-links"] == [kind.link for kind in KINDS]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda variant: variant.create_operation)
def test_a_variant_creates_with_its_own_call_and_is_otherwise_its_kind(variant):
    (kind,) = [kind for kind in KINDS if kind.name == variant.name]
    calls = []

    class Client:
        def __getattr__(self, name):
            return lambda **kwargs: calls.append(name) or {variant.id_key: "x"}

    variant.create(Client(), {variant.id_key: "x"})
    assert calls == [xform_name(variant.create_operation)]
    assert _load(variant.operator).kind is variant
    assert (variant.get, variant.delete, variant.sensor, variant.trigger, variant.link) == (
        kind.get,
        kind.delete,
        kind.sensor,
        kind.trigger,
        kind.link,
    )
    assert variant.identity is not kind.identity
