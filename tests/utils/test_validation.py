"""The service's input rules, checked before any call, and the deterministic IDs of task instances."""

from __future__ import annotations

import hashlib
import re

import pytest

from airflow_ml_provider.exceptions import InvalidParameterError
from airflow_ml_provider.utils.validation import (
    derive_entity_id,
    entity_id_chain,
    exactly_one,
    json_document,
    normalize_output_uri,
    retry_entity_id,
    validate_entity_id,
    validate_entity_name,
    validate_s3_url,
    validate_tags,
)

ID_PATTERN = re.compile(r"[a-zA-Z0-9_.-]{1,64}")


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("", "1-64 characters"),
        ("x" * 65, "1-64 characters"),
        ("bad id", "letters, digits"),
        ("bad/id", "letters, digits"),
        ("ünïcode", "letters, digits"),
        (None, "must be a string"),
        (42, "must be a string"),
    ],
)
def test_invalid_ids_name_the_field_and_the_rule(value, rule):
    with pytest.raises(InvalidParameterError, match=rule) as error:
        validate_entity_id("batch_prediction_id", value)
    assert str(error.value).startswith("batch_prediction_id ")
    assert error.value.field == "batch_prediction_id"


def test_valid_ids_pass_unchanged():
    assert validate_entity_id("ml_model_id", "a.B-c_9" * 9 + "x") == "a.B-c_9" * 9 + "x"


@pytest.mark.parametrize(
    ("value", "rule"), [("   ", "whitespace"), ("n" * 1025, "at most 1024"), (3, "string")]
)
def test_invalid_names_are_rejected(value, rule):
    with pytest.raises(InvalidParameterError, match=rule):
        validate_entity_name("batch_prediction_name", value)


@pytest.mark.parametrize("value", [None, "", "Nightly scoring"])
def test_names_may_be_absent_or_empty(value):
    assert validate_entity_name("batch_prediction_name", value) == value


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("https://bucket/key/", "S3 URL"),
        ("s3:/bucket/key/", "S3 URL"),
        ("s3://", "S3 URL"),
        ("s3://bucket/a:b/", "':'"),
        ("s3://bucket/a//b/", "'//'"),
        ("s3://bucket//a/", "'//'"),
        ("s3://bucket/a/./b/", "'/./'"),
        ("s3://bucket/./b/", "'/./'"),
        ("s3://bucket/a/../b/", "'/../'"),
        ("s3://bucket/" + "k" * 2040, "at most 2048"),
    ],
)
def test_output_uri_rules(value, rule):
    with pytest.raises(InvalidParameterError, match=re.escape(rule)) as error:
        normalize_output_uri(value)
    assert str(error.value).startswith(f"output_uri {value!r}")


def test_output_uri_without_trailing_slash_gets_one():
    assert normalize_output_uri("s3://bucket/predictions") == "s3://bucket/predictions/"
    assert normalize_output_uri("s3://bucket") == "s3://bucket/"
    assert normalize_output_uri("s3://bucket/predictions/") == "s3://bucket/predictions/"


def test_output_uri_ending_in_a_dot_segment_is_caught_after_the_slash_is_added():
    with pytest.raises(InvalidParameterError, match=re.escape("'/./'")):
        normalize_output_uri("s3://bucket/a/.")


def test_s3_urls_are_checked():
    assert validate_s3_url("data_location_s3", "s3://b/k.csv") == "s3://b/k.csv"
    with pytest.raises(InvalidParameterError, match="data_location_s3"):
        validate_s3_url("data_location_s3", "/local/file.csv")


def test_derived_ids_are_deterministic_valid_and_distinct_per_task_instance():
    base = derive_entity_id("scoring", "create", "scheduled__2026-01-01", -1)
    assert base == derive_entity_id("scoring", "create", "scheduled__2026-01-01", -1)
    assert ID_PATTERN.fullmatch(base)
    others = {
        derive_entity_id("scoring", "create", "scheduled__2026-01-02", -1),
        derive_entity_id("scoring", "create", "scheduled__2026-01-01", 0),
        derive_entity_id("scoring", "create", "scheduled__2026-01-01", 1),
        derive_entity_id("scoring", "other", "scheduled__2026-01-01", -1),
        derive_entity_id("other", "create", "scheduled__2026-01-01", -1),
    }
    assert base not in others
    assert len(others) == 5


def test_derived_ids_stay_valid_for_long_and_odd_names():
    entity_id = derive_entity_id("d" * 250 + " ünï/cöde", "t:" * 120, "manual__2026-11-26T18:20:53+00:00", 7)
    assert ID_PATTERN.fullmatch(entity_id)
    assert ID_PATTERN.fullmatch(retry_entity_id(entity_id, 999))


def test_retry_ids_form_a_chain_every_try_can_walk():
    assert retry_entity_id("job", 0) == "job"
    assert retry_entity_id("job", 1) == "job-r1"
    assert len({retry_entity_id("job", generation) for generation in range(50)}) == 50
    assert entity_id_chain("job")[:3] == ["job", "job-r1", "job-r2"]


def test_long_explicit_ids_that_differ_only_at_the_end_keep_distinct_chains():
    first, second = "j" * 63 + "a", "j" * 63 + "b"
    for generation in (1, 12, 99):
        retried = {retry_entity_id(first, generation), retry_entity_id(second, generation)}
        assert len(retried) == 2
        assert all(len(entity_id) <= 64 and ID_PATTERN.fullmatch(entity_id) for entity_id in retried)
    assert retry_entity_id("j" * 60, 1) == "j" * 60 + "-r1"


def test_an_id_namespace_separates_deployments_and_its_absence_keeps_todays_ids():
    identity = ("scoring", "create", "scheduled__2026-01-01", -1)
    assert derive_entity_id(*identity, namespace="") == derive_entity_id(*identity)
    # The IDs of earlier releases: the hash of the four parts alone.
    digest = hashlib.sha256(b"scoring\x00create\x00scheduled__2026-01-01\x00-1").hexdigest()[:16]
    assert derive_entity_id(*identity) == f"scoring.create.{digest}"
    staging = derive_entity_id(*identity, namespace="staging")
    production = derive_entity_id(*identity, namespace="production")
    assert len({staging, production, derive_entity_id(*identity)}) == 3
    assert all(ID_PATTERN.fullmatch(entity_id) for entity_id in (staging, production))


def test_tags_are_checked_as_the_service_checks_them():
    assert validate_tags("tags", None) == {}
    assert validate_tags("tags", {"team": "scoring", "cost-center": "4711"}) == {
        "team": "scoring",
        "cost-center": "4711",
    }
    assert validate_tags("tags", [{"Key": "team", "Value": "x"}]) == {"team": "x"}
    for bad, rule in [
        ({"aws:owner": "x"}, "must not start with"),
        ({"airflow-ml-provider:succeeded": "true"}, "must not start with"),
        ({"": "x"}, "1-128 characters"),
        ({"k" * 129: "x"}, "1-128 characters"),
        ({"team": "v" * 257}, "0-256 characters"),
        ({"team": "a#b"}, "letters, digits"),
        ({"team": 3}, "0-256 characters"),
        (["team"], "dict of tag keys"),
    ]:
        with pytest.raises(InvalidParameterError, match=rule) as error:
            validate_tags("tags", bad)
        assert error.value.field == "tags"


def test_json_documents_accept_dicts_and_json_text_only():
    assert json_document("data_schema", {"b": 1, "a": 2}) == '{"a": 2, "b": 1}'
    assert json_document("data_schema", '{"a": 1}') == '{"a": 1}'
    assert json_document("data_schema", None) is None
    with pytest.raises(InvalidParameterError, match=r"data_schema.*JSON object"):
        json_document("data_schema", "{not json")
    with pytest.raises(InvalidParameterError, match="JSON object"):
        json_document("recipe", "[1, 2]")


def test_exactly_one_names_both_parameters():
    exactly_one(data_schema="{}", data_schema_location_s3=None)
    with pytest.raises(InvalidParameterError, match="data_schema or data_schema_location_s3"):
        exactly_one(data_schema=None, data_schema_location_s3=None)
    with pytest.raises(InvalidParameterError, match="exactly one"):
        exactly_one(data_schema="{}", data_schema_location_s3="s3://b/s.json")
