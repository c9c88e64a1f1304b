"""Tags on every kind of object, with the service's rules; refused credentials as a test control."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from .helpers import CREDENTIALS


def tags_of(ml, resource_id, resource_type="MLModel"):
    response = ml.describe_tags(ResourceId=resource_id, ResourceType=resource_type)
    assert (response["ResourceId"], response["ResourceType"]) == (resource_id, resource_type)
    return {tag["Key"]: tag.get("Value") for tag in response["Tags"]}


def test_tags_are_added_overwritten_and_deleted_on_each_kind(ml, tiny):
    for resource_id, resource_type in [
        (tiny["ml_model_id"], "MLModel"),
        (tiny["data_source_id"], "DataSource"),
    ]:
        answer = ml.add_tags(
            ResourceId=resource_id,
            ResourceType=resource_type,
            Tags=[{"Key": "team", "Value": "scoring"}, {"Key": "empty"}],
        )
        assert (answer["ResourceId"], answer["ResourceType"]) == (resource_id, resource_type)
        ml.add_tags(ResourceId=resource_id, ResourceType=resource_type, Tags=[{"Key": "team", "Value": "ml"}])
        assert tags_of(ml, resource_id, resource_type) == {"team": "ml", "empty": None}
        ml.delete_tags(ResourceId=resource_id, ResourceType=resource_type, TagKeys=["team", "never-set"])
        assert tags_of(ml, resource_id, resource_type) == {"empty": None}


@pytest.mark.parametrize(
    ("tags", "code"),
    [
        ([{"Key": "aws:created-by", "Value": "x"}], "InvalidTagException"),
        ([{"Key": "k" * 129, "Value": "x"}], "InvalidTagException"),
        ([{"Key": "team", "Value": "v" * 257}], "InvalidTagException"),
        ([{"Key": "team", "Value": "a#b"}], "InvalidTagException"),
        ([{"Key": "team", "Value": "tab\there"}], "InvalidTagException"),
        ([{"Key": f"key-{index}"} for index in range(11)], "TagLimitExceededException"),
    ],
)
def test_tags_break_the_rules_with_the_services_errors(ml, tiny, tags, code):
    before = tags_of(ml, tiny["ml_model_id"])
    with pytest.raises(ClientError) as error:
        ml.add_tags(ResourceId=tiny["ml_model_id"], ResourceType="MLModel", Tags=tags)
    assert error.value.response["Error"]["Code"] == code
    assert tags_of(ml, tiny["ml_model_id"]) == before


def test_the_tag_limit_is_a_setting_and_missing_objects_are_not_found(ml, tiny, emulator):
    emulator.configure(tag_limit=50)
    tags = [{"Key": f"key-{index}", "Value": str(index)} for index in range(20)]
    ml.add_tags(ResourceId=tiny["data_source_id"], ResourceType="DataSource", Tags=tags)
    assert len(tags_of(ml, tiny["data_source_id"], "DataSource")) >= 20
    ml.delete_tags(
        ResourceId=tiny["data_source_id"], ResourceType="DataSource", TagKeys=[t["Key"] for t in tags]
    )
    with pytest.raises(ClientError) as error:
        ml.describe_tags(ResourceId="no-such-model", ResourceType="MLModel")
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as error:
        ml.describe_tags(ResourceId=tiny["ml_model_id"], ResourceType="Model")
    assert error.value.response["Error"]["Code"] == "InvalidInputException"


@pytest.mark.parametrize("code", ["ExpiredTokenException", "UnrecognizedClientException"])
def test_refused_access_keys_are_answered_with_the_chosen_error_and_others_are_served(emulator, code):
    emulator.configure(refused_access_keys={"expired-key": code})
    session = boto3.session.Session(region_name=CREDENTIALS["region_name"])
    refused = session.client(
        "machinelearning",
        endpoint_url=emulator.endpoint_url,
        aws_access_key_id="expired-key",
        aws_secret_access_key="x",
    )
    served = session.client(
        "machinelearning",
        endpoint_url=emulator.endpoint_url,
        aws_access_key_id="fresh-key",
        aws_secret_access_key="x",
    )
    with pytest.raises(ClientError) as error:
        refused.describe_ml_models(Limit=1)
    assert error.value.response["Error"]["Code"] == code
    assert "Results" in served.describe_ml_models(Limit=1)
    with pytest.raises(ValueError, match="refused_access_keys"):
        emulator.configure(refused_access_keys={"k": "NotAnError"})


def test_tag_text_takes_unicode_letters_digits_and_separators_as_the_models_pattern_does(ml, tiny):
    # ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$: a no-break space is a separator (Z), a tab is not.
    tags = [{"Key": "no\u00a0break", "Value": "é ٣ x_.:/=+-@"}]
    ml.add_tags(ResourceId=tiny["ml_model_id"], ResourceType="MLModel", Tags=tags)

    assert tags_of(ml, tiny["ml_model_id"], "MLModel")["no\u00a0break"] == "é ٣ x_.:/=+-@"
    ml.delete_tags(ResourceId=tiny["ml_model_id"], ResourceType="MLModel", TagKeys=["no\u00a0break"])
