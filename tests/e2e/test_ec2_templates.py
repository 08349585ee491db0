"""Launch templates through boto3: versions ($Latest/$Default, SourceVersion),
the default version, deleting versions and templates, AWS's errors, and
RunInstances from a template (by id or name, with overrides)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum

from .ec2_support import ec2_gureum, leftovers, root_only, wait_for

pytestmark = pytest.mark.skipif(root_only, reason="the namespace driver needs root")


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with ec2_gureum() as g:
        yield g


@pytest.fixture
def ec2(cloud: RunningGureum) -> Any:
    return cloud.client("ec2")


def code(err: pytest.ExceptionInfo[ClientError]) -> str:
    value: str = err.value.response["Error"]["Code"]
    return value


def image(ec2: Any) -> str:
    found: str = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    return found


def test_versions_default_and_latest(ec2: Any) -> None:
    lt = ec2.create_launch_template(
        LaunchTemplateName="web-tpl", VersionDescription="first",
        LaunchTemplateData={"ImageId": image(ec2), "InstanceType": "t3.micro",
                            "Monitoring": {"Enabled": True}},
        TagSpecifications=[{"ResourceType": "launch-template",
                            "Tags": [{"Key": "team", "Value": "web"}]}],
    )["LaunchTemplate"]
    tid = lt["LaunchTemplateId"]
    assert tid.startswith("lt-") and lt["DefaultVersionNumber"] == lt["LatestVersionNumber"] == 1
    assert lt["Tags"] == [{"Key": "team", "Value": "web"}]
    with pytest.raises(ClientError) as err:
        ec2.create_launch_template(LaunchTemplateName="web-tpl",
                                   LaunchTemplateData={"InstanceType": "t3.micro"})
    assert code(err) == "InvalidLaunchTemplateName.AlreadyExistsException"

    v2 = ec2.create_launch_template_version(
        LaunchTemplateId=tid, SourceVersion="1", VersionDescription="bigger",
        LaunchTemplateData={"InstanceType": "t3.small"})["LaunchTemplateVersion"]
    assert v2["VersionNumber"] == 2 and not v2["DefaultVersion"]
    # SourceVersion: the new version starts from version 1's data.
    assert v2["LaunchTemplateData"]["ImageId"] == image(ec2)
    assert v2["LaunchTemplateData"]["Monitoring"] == {"Enabled": True}
    v3 = ec2.create_launch_template_version(
        LaunchTemplateName="web-tpl",
        LaunchTemplateData={"InstanceType": "t3.nano"})["LaunchTemplateVersion"]
    assert v3["VersionNumber"] == 3 and "ImageId" not in v3["LaunchTemplateData"]

    def versions(*selectors: str) -> list[tuple[int, str]]:
        out = ec2.describe_launch_template_versions(LaunchTemplateId=tid, Versions=list(selectors))
        return [(v["VersionNumber"], v["LaunchTemplateData"].get("InstanceType"))
                for v in out["LaunchTemplateVersions"]]

    assert versions("$Latest") == [(3, "t3.nano")]
    assert versions("$Default") == [(1, "t3.micro")]
    assert [v for v, _ in versions()] == [1, 2, 3]
    ec2.modify_launch_template(LaunchTemplateId=tid, DefaultVersion="2")
    assert versions("$Default") == [(2, "t3.small")]
    described = ec2.describe_launch_templates(LaunchTemplateNames=["web-tpl"])["LaunchTemplates"]
    assert described[0]["DefaultVersionNumber"] == 2 and described[0]["LatestVersionNumber"] == 3
    assert ec2.describe_launch_templates(
        Filters=[{"Name": "tag:team", "Values": ["web"]}])["LaunchTemplates"][0][
        "LaunchTemplateId"] == tid

    gone = ec2.delete_launch_template_versions(LaunchTemplateId=tid, Versions=["3", "2", "9"])
    assert [v["VersionNumber"] for v in gone["SuccessfullyDeletedLaunchTemplateVersions"]] == [3]
    failed = {v["VersionNumber"]: v["ResponseError"]["Code"]
              for v in gone["UnsuccessfullyDeletedLaunchTemplateVersions"]}
    assert failed[9] == "launchTemplateVersionDoesNotExist" and 2 in failed  # 2 is the default
    assert versions("$Latest") == [(2, "t3.small")]
    with pytest.raises(ClientError) as err:
        versions("3")
    assert code(err) == "InvalidLaunchTemplateId.VersionNotFound"
    # Numbers are not reused after a delete.
    v4 = ec2.create_launch_template_version(LaunchTemplateId=tid,
                                            LaunchTemplateData={"KeyName": "k"})
    assert v4["LaunchTemplateVersion"]["VersionNumber"] == 4

    deleted = ec2.delete_launch_template(LaunchTemplateName="web-tpl")["LaunchTemplate"]
    assert deleted["LaunchTemplateId"] == tid
    with pytest.raises(ClientError) as err:
        ec2.describe_launch_templates(LaunchTemplateIds=[tid])
    assert code(err) == "InvalidLaunchTemplateId.NotFound"
    with pytest.raises(ClientError) as err:
        ec2.describe_launch_template_versions(LaunchTemplateName="web-tpl")
    assert code(err) == "InvalidLaunchTemplateName.NotFoundException"


def test_errors(ec2: Any) -> None:
    with pytest.raises(ClientError) as err:
        ec2.create_launch_template(LaunchTemplateName="bad name!",
                                   LaunchTemplateData={"InstanceType": "t3.micro"})
    assert code(err) == "InvalidLaunchTemplateName.MalformedException"
    with pytest.raises(ClientError) as err:
        ec2.describe_launch_templates(LaunchTemplateIds=["lt-nope"])
    assert code(err) == "InvalidLaunchTemplateId.Malformed"
    with pytest.raises(ClientError) as err:
        ec2.run_instances(MinCount=1, MaxCount=1,
                          LaunchTemplate={"LaunchTemplateName": "missing-tpl"})
    assert code(err) == "InvalidLaunchTemplateName.NotFoundException"


def test_run_instances_from_template_with_overrides(ec2: Any, cloud: RunningGureum) -> None:
    user_data = base64.b64encode(b"#!/bin/sh\necho from-template\n").decode()
    tid = ec2.create_launch_template(
        LaunchTemplateName="run-tpl",
        LaunchTemplateData={
            "ImageId": image(ec2), "InstanceType": "t3.micro", "UserData": user_data,
            "TagSpecifications": [{"ResourceType": "instance",
                                   "Tags": [{"Key": "role", "Value": "tpl"},
                                            {"Key": "env", "Value": "dev"}]}],
        })["LaunchTemplate"]["LaunchTemplateId"]
    ec2.create_launch_template_version(LaunchTemplateId=tid, SourceVersion="$Latest",
                                       LaunchTemplateData={"InstanceType": "t3.small"})
    ids: list[str] = []
    try:
        by_id = ec2.run_instances(MinCount=1, MaxCount=1,
                                  LaunchTemplate={"LaunchTemplateId": tid})["Instances"][0]
        ids.append(by_id["InstanceId"])
        assert by_id["InstanceType"] == "t3.micro"  # the default version
        by_name = ec2.run_instances(
            MinCount=1, MaxCount=1, InstanceType="t3.nano",
            LaunchTemplate={"LaunchTemplateName": "run-tpl", "Version": "$Latest"},
            TagSpecifications=[{"ResourceType": "instance",
                                "Tags": [{"Key": "env", "Value": "prod"}]}],
        )["Instances"][0]
        ids.append(by_name["InstanceId"])
        assert by_name["InstanceType"] == "t3.nano"  # the call overrides the template
        tags = {t["Key"]: t["Value"] for t in by_name["Tags"]}
        assert tags["role"] == "tpl" and tags["env"] == "prod"
        assert tags["aws:ec2launchtemplate:id"] == tid
        assert tags["aws:ec2launchtemplate:version"] == "2"
        latest = ec2.run_instances(MinCount=1, MaxCount=1, LaunchTemplate={
            "LaunchTemplateId": tid, "Version": "$Latest"})["Instances"][0]
        ids.append(latest["InstanceId"])
        assert latest["InstanceType"] == "t3.small"
        # The template's user data really runs.
        wait_for(lambda: "from-template" in ec2.get_console_output(
            InstanceId=by_id["InstanceId"]).get("Output", ""))
    finally:
        if ids:
            ec2.terminate_instances(InstanceIds=ids)
            ec2.get_waiter("instance_terminated").wait(
                InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert leftovers(ids, cloud.data_dir) == []
