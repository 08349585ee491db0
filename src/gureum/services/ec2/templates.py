"""Launch templates: named, versioned sets of RunInstances parameters.

Operations: CreateLaunchTemplate, CreateLaunchTemplateVersion (with
``SourceVersion``), DescribeLaunchTemplates, DescribeLaunchTemplateVersions,
ModifyLaunchTemplate (the default version), DeleteLaunchTemplate and
DeleteLaunchTemplateVersions. A template is one store document
(``ec2:launch-template``) holding every version's ``LaunchTemplateData``.

For other services (Auto Scaling launches from templates) the one entry point
is::

    resolve_launch_template(store, account, region, spec) -> dict

``spec`` is a ``LaunchTemplateSpecification`` (``LaunchTemplateId`` or
``LaunchTemplateName``, optional ``Version``: a number, ``$Latest`` or
``$Default``, the default when absent). It returns the RunInstances
parameters the version describes, with ``LaunchTemplate`` set to the resolved
``{"LaunchTemplateId", "Version"}`` so that the launched instances are tagged
``aws:ec2launchtemplate:id``/``:version`` as on AWS; parameters the caller also
gives override these (``RunInstances`` does ``{**resolved, **given}``; tag
specifications are merged per resource type). Missing templates or versions
raise ``AWSError`` with AWS's codes.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from gureum.errors import AWSError

from ..base import Call
from ..common import filters
from ..common import tags as tagging
from ..common.ids import hex_id
from ..common.pagination import paginate
from .core import TEMPLATE, EC2Core

MAX_VERSIONS = 10_000
_NAME = re.compile(r"[a-zA-Z0-9().\-/_]{3,128}")
_ID = re.compile(r"lt-[0-9a-f]{17}")


def _find(store: Any, account: str, region: str, spec: dict[str, Any]) -> dict[str, Any]:
    template_id, name = spec.get("LaunchTemplateId"), spec.get("LaunchTemplateName")
    if template_id and name:
        raise AWSError("InvalidParameterCombination",
                       "Both a launch template ID and a launch template name were specified")
    if template_id:
        if not _ID.fullmatch(str(template_id)):
            raise AWSError("InvalidLaunchTemplateId.Malformed",
                           f"The specified launch template ID '{template_id}' is malformed")
        doc: dict[str, Any] | None = store.resources.get(TEMPLATE, account, region, template_id)
        if doc is None:
            raise AWSError("InvalidLaunchTemplateId.NotFound",
                           f"The specified launch template, with template ID {template_id}, "
                           "does not exist.")
        return doc
    if name:
        found = store.resources.list(TEMPLATE, account, region,
                                     where=lambda d: d["name"] == name)
        if not found:
            raise AWSError("InvalidLaunchTemplateName.NotFoundException",
                           f"The specified launch template, with template name {name}, "
                           "does not exist.")
        one: dict[str, Any] = found[0]
        return one
    raise AWSError("MissingParameter",
                   "The request must contain the parameter launchTemplateName or launchTemplateId")


def _version_number(doc: dict[str, Any], version: Any) -> int:
    """The number a version selector (``$Latest``, ``$Default``, "3", 3, None) names."""
    if version in (None, "", "$Default"):
        return int(doc["default_version"])
    if version == "$Latest":
        return int(doc["latest_version"])
    try:
        number = int(str(version))
    except ValueError:
        raise AWSError("InvalidLaunchTemplateId.VersionNotFound",
                       f"Could not find launch template version {version} for launch "
                       f"template {doc['id']}") from None
    if str(number) not in doc["versions"]:
        raise AWSError("InvalidLaunchTemplateId.VersionNotFound",
                       f"Could not find launch template version {version} for launch "
                       f"template {doc['id']}")
    return number


def resolve_launch_template(store: Any, account: str, region: str,
                            spec: dict[str, Any]) -> dict[str, Any]:
    """The RunInstances parameters of a launch template version (see the module docstring)."""
    doc = _find(store, account, region, spec)
    number = _version_number(doc, spec.get("Version"))
    data = copy.deepcopy(doc["versions"][str(number)]["data"])
    params: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("NetworkInterfaces", "ElasticGpuSpecifications", "LicenseSpecifications"):
            continue
        params[key] = value
    interfaces = data.get("NetworkInterfaces") or []
    primary = next((n for n in interfaces if n.get("DeviceIndex", 0) == 0), None)
    if primary is not None:
        if primary.get("SubnetId"):
            params.setdefault("SubnetId", primary["SubnetId"])
        if primary.get("Groups"):
            params.setdefault("SecurityGroupIds", list(primary["Groups"]))
    params["LaunchTemplate"] = {"LaunchTemplateId": doc["id"], "Version": str(number)}
    return params


def merge_run_params(template: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """RunInstances parameters: the template's, overridden by those given in the call."""
    out = {**template, **{k: v for k, v in given.items() if v is not None}}
    specs: dict[str, dict[str, str]] = {}
    for source in (template.get("TagSpecifications") or [], given.get("TagSpecifications") or []):
        for s in source:
            kind = s.get("ResourceType", "")
            specs.setdefault(kind, {}).update(tagging.to_dict(s.get("Tags")))
    if specs:
        out["TagSpecifications"] = [
            {"ResourceType": kind, "Tags": tagging.to_list(tags)} for kind, tags in specs.items()
        ]
    out["LaunchTemplate"] = template["LaunchTemplate"]
    return out


def _template_view(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "LaunchTemplateId": doc["id"],
        "LaunchTemplateName": doc["name"],
        "CreateTime": doc["created"],
        "CreatedBy": doc["created_by"],
        "DefaultVersionNumber": doc["default_version"],
        "LatestVersionNumber": doc["latest_version"],
        "Tags": tagging.to_list(doc.get("tags")),
    }


def _version_view(doc: dict[str, Any], number: int) -> dict[str, Any]:
    version = doc["versions"][str(number)]
    out = {
        "LaunchTemplateId": doc["id"],
        "LaunchTemplateName": doc["name"],
        "VersionNumber": number,
        "CreateTime": version["created"],
        "CreatedBy": version["created_by"],
        "DefaultVersion": number == doc["default_version"],
        "LaunchTemplateData": copy.deepcopy(version["data"]),
    }
    if version.get("description"):
        out["VersionDescription"] = version["description"]
    return out


def _check_data(data: dict[str, Any] | None) -> dict[str, Any]:
    # botocore sends nothing for an empty LaunchTemplateData: it is an empty version.
    return copy.deepcopy(data or {})


class LaunchTemplateOperations(EC2Core):
    def _template(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        return _find(self.store, call.account, call.region, params)

    def _put_template(self, doc: dict[str, Any]) -> None:
        self.store.resources.put(TEMPLATE, doc["account"], doc["region"], doc["id"], doc)

    def create_launch_template(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("LaunchTemplateName") or ""
        if not _NAME.fullmatch(name):
            raise AWSError("InvalidLaunchTemplateName.MalformedException",
                           "A launch template name must be between 3 and 128 characters, and "
                           "may contain letters, numbers, and the following characters: "
                           "- ( ) . / _.'")
        data = _check_data(params.get("LaunchTemplateData"))
        tags: dict[str, str] = {}
        for spec in params.get("TagSpecifications") or []:
            if spec.get("ResourceType") != "launch-template":
                raise AWSError("InvalidParameterValue",
                               f"'{spec.get('ResourceType')}' is not a valid taggable resource "
                               "type for this operation.")
            tags.update(tagging.to_dict(spec.get("Tags")))
        now = self.now()
        with self.store.tx():
            token = params.get("ClientToken")
            if token:
                same = self.store.resources.list(
                    TEMPLATE, call.account, call.region,
                    where=lambda d: d.get("client_token") == token)
                if same:
                    return {"LaunchTemplate": _template_view(same[0])}
            if self.store.resources.list(TEMPLATE, call.account, call.region,
                                         where=lambda d: d["name"] == name):
                raise AWSError("InvalidLaunchTemplateName.AlreadyExistsException",
                               f"Launch template name already in use: {name}")
            doc = {
                "id": hex_id("lt"), "account": call.account, "region": call.region,
                "name": name, "created": now, "created_by": call.identity.arn,
                "default_version": 1, "latest_version": 1, "tags": tags,
                "client_token": token,
                "versions": {"1": {"data": data, "created": now,
                                   "created_by": call.identity.arn,
                                   "description": params.get("VersionDescription")}},
            }
            self._put_template(doc)
        return {"LaunchTemplate": _template_view(doc)}

    def create_launch_template_version(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        given = _check_data(params.get("LaunchTemplateData"))
        with self.store.tx():
            doc = self._template(call, params)
            source = params.get("SourceVersion")
            data: dict[str, Any] = {}
            if source is not None:
                data = copy.deepcopy(doc["versions"][str(_version_number(doc, source))]["data"])
            data.update(given)
            if doc["latest_version"] >= MAX_VERSIONS:
                raise AWSError("VersionLimitExceeded",
                               f"A launch template can have at most {MAX_VERSIONS} versions")
            number = int(doc.get("last_number", doc["latest_version"])) + 1
            doc["versions"][str(number)] = {
                "data": data, "created": self.now(), "created_by": call.identity.arn,
                "description": params.get("VersionDescription"),
            }
            doc["latest_version"] = doc["last_number"] = number
            self._put_template(doc)
        return {"LaunchTemplateVersion": _version_view(doc, number)}

    def describe_launch_templates(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        ids, names = params.get("LaunchTemplateIds"), params.get("LaunchTemplateNames")
        if ids:
            docs = [_find(self.store, call.account, call.region, {"LaunchTemplateId": i})
                    for i in ids]
        elif names:
            docs = [_find(self.store, call.account, call.region, {"LaunchTemplateName": n})
                    for n in names]
        else:
            docs = self.store.resources.list(TEMPLATE, call.account, call.region)
        views = [_template_view(d) for d in docs]
        getters = {
            "launch-template-name": filters.field("LaunchTemplateName"),
            "create-time": filters.field("CreateTime"),
        }
        views = filters.apply(views, params.get("Filters"), getters)
        page, token = paginate(views, params.get("NextToken"), params.get("MaxResults"),
                               key=lambda v: str(v["LaunchTemplateId"]),
                               default_limit=200, min_limit=1, max_limit=200)
        out: dict[str, Any] = {"LaunchTemplates": page}
        if token:
            out["NextToken"] = token
        return out

    def describe_launch_template_versions(self, call: Call,
                                          params: dict[str, Any]) -> dict[str, Any]:
        wanted = params.get("Versions") or []
        if params.get("LaunchTemplateId") or params.get("LaunchTemplateName"):
            docs = [self._template(call, params)]
        elif wanted and all(v in ("$Latest", "$Default") for v in wanted):
            docs = self.store.resources.list(TEMPLATE, call.account, call.region)
        else:
            raise AWSError("MissingParameter",
                           "The request must contain the parameter launchTemplateName or "
                           "launchTemplateId")
        views = []
        for doc in docs:
            if wanted:
                numbers = sorted({_version_number(doc, v) for v in wanted})
            else:
                numbers = sorted(int(n) for n in doc["versions"])
            low, high = params.get("MinVersion"), params.get("MaxVersion")
            if low is not None:
                numbers = [n for n in numbers if n >= int(low)]
            if high is not None:
                numbers = [n for n in numbers if n <= int(high)]
            views += [_version_view(doc, n) for n in numbers]
        getters = {
            "is-default-version": filters.field("DefaultVersion"),
            "image-id": filters.field("LaunchTemplateData.ImageId"),
            "instance-type": filters.field("LaunchTemplateData.InstanceType"),
            "key-name": filters.field("LaunchTemplateData.KeyName"),
        }
        views = filters.apply(views, params.get("Filters"), getters)
        page, token = paginate(views, params.get("NextToken"), params.get("MaxResults"),
                               key=lambda v: f"{v['LaunchTemplateId']}|{v['VersionNumber']:06d}",
                               default_limit=1000, min_limit=1)
        out: dict[str, Any] = {"LaunchTemplateVersions": page}
        if token:
            out["NextToken"] = token
        return out

    def modify_launch_template(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self._template(call, params)
            default = params.get("DefaultVersion")
            if default is not None:
                doc["default_version"] = _version_number(doc, default)
                self._put_template(doc)
        return {"LaunchTemplate": _template_view(doc)}

    def delete_launch_template(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self._template(call, params)
            self.store.resources.delete(TEMPLATE, call.account, call.region, doc["id"])
        return {"LaunchTemplate": _template_view(doc)}

    def delete_launch_template_versions(self, call: Call,
                                        params: dict[str, Any]) -> dict[str, Any]:
        versions = params.get("Versions") or []
        if not versions:
            raise AWSError("MissingParameter", "The request must contain the parameter Versions")
        done: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        with self.store.tx():
            doc = self._template(call, params)
            ident = {"LaunchTemplateId": doc["id"], "LaunchTemplateName": doc["name"]}
            for v in versions:
                try:
                    number = int(v)
                except ValueError:
                    number = -1
                if str(number) not in doc["versions"]:
                    failed.append({**ident, "VersionNumber": max(number, 0), "ResponseError": {
                        "Code": "launchTemplateVersionDoesNotExist",
                        "Message": f"The launch template version {v} does not exist"}})
                elif number == doc["default_version"]:
                    failed.append({**ident, "VersionNumber": number, "ResponseError": {
                        "Code": "unexpectedError",
                        "Message": "The default version of a launch template cannot be "
                                   "deleted"}})
                else:
                    del doc["versions"][str(number)]
                    done.append({**ident, "VersionNumber": number})
            doc["last_number"] = max(doc.get("last_number", 0), doc["latest_version"])
            doc["latest_version"] = max(int(n) for n in doc["versions"])
            self._put_template(doc)
        return {"SuccessfullyDeletedLaunchTemplateVersions": done,
                "UnsuccessfullyDeletedLaunchTemplateVersions": failed}
