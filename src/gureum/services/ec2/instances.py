"""Instance operations: RunInstances, Describe*, Start/Stop/Reboot/Terminate,
console output and attributes. Each validates, writes the desired state in one
transaction and wakes the instance loop (``lifecycle.py``), which acts."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from gureum.errors import AWSError

from ..base import Call
from ..common import filters
from ..common import tags as tagging
from ..common.ids import hex_id
from ..common.pagination import paginate
from . import render
from .catalog import DEFAULT_TYPE, architecture, instance_type
from .core import KEYPAIR
from .images import ImageOperations
from .secgroups import SecurityGroupOperations
from .templates import merge_run_params, resolve_launch_template

MAX_USER_DATA = 16 * 1024
MAX_INSTANCES = 256  # non-terminated instances one gureum holds


def decode_user_data(text: str | None) -> str | None:
    if not text:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AWSError("InvalidParameterValue", "Invalid BASE64 encoding of user data.") from exc
    if len(raw) > MAX_USER_DATA:
        raise AWSError("InvalidParameterValue", "User data is limited to 16384 bytes")
    return text


def tags_for(params: dict[str, Any], resource_type: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for spec in params.get("TagSpecifications") or []:
        kind = spec.get("ResourceType")
        if kind == resource_type:
            out.update(tagging.to_dict(spec.get("Tags")))
        elif kind not in ("volume", "network-interface", "instance", "key-pair",
                          "launch-template", "security-group"):
            raise AWSError("InvalidParameterValue",
                           f"'{kind}' is not a valid taggable resource type")
    return out


def hostname(ip: str) -> str:
    return "ip-" + ip.replace(".", "-")


def _rendered(doc: dict[str, Any]) -> dict[str, Any]:
    out = render.instance(doc)
    out["_reservation"], out["_owner"] = doc["reservation"], doc["account"]
    return out


def changes(docs: list[dict[str, Any]], before: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"InstanceId": d["id"], "CurrentState": render.state(d),
         "PreviousState": render.state({"state": before[d["id"]]})}
        for d in docs
    ]


class InstanceOperations(SecurityGroupOperations, ImageOperations):
    # -- RunInstances -----------------------------------------------------------

    def run_instances(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        token = params.get("ClientToken")
        if token:
            same = self.index().tokens.get((call.account, call.region, token))
            if same:
                return self._reservation(self.instances(call, same))
        template = params.get("LaunchTemplate")
        if template:
            params = merge_run_params(
                resolve_launch_template(self.store, call.account, call.region, template), params)
        low, high = params.get("MinCount"), params.get("MaxCount")
        if low is None or high is None:
            raise AWSError("MissingParameter", "The request must contain MinCount and MaxCount")
        if low < 1 or high < low:
            raise AWSError("InvalidParameterValue",
                           f"MinCount ({low}) must be at least 1 and at most MaxCount ({high})")
        image = self.launch_image(call, params.get("ImageId"))
        itype = instance_type(params.get("InstanceType") or DEFAULT_TYPE)
        key_name = params.get("KeyName")
        key = self.store.resources.get(KEYPAIR, call.account, call.region,
                                       key_name) if key_name else None
        if key_name and key is None:
            raise AWSError("InvalidKeyPair.NotFound", f"The key pair '{key_name}' does not exist")
        user_data = decode_user_data(params.get("UserData"))
        tags = tags_for(params, "instance")
        if template:
            tags["aws:ec2launchtemplate:id"] = params["LaunchTemplate"]["LaunchTemplateId"]
            tags["aws:ec2launchtemplate:version"] = params["LaunchTemplate"]["Version"]
        zone = (params.get("Placement") or {}).get("AvailabilityZone")
        subnet = self.subnet_for(call, params.get("SubnetId"), zone)
        groups = self.groups_for_launch(call, params, subnet["VpcId"])
        metadata = params.get("MetadataOptions") or {}
        with self.store.tx():
            held = self.index().live
            room = MAX_INSTANCES - held
            if room < low:
                raise AWSError("InstanceLimitExceeded",
                               f"This host runs at most {MAX_INSTANCES} instances; {held} exist")
            count = min(high, room)
            addresses = self.allocate_addresses(subnet, count)
            reservation = hex_id("r")
            now = self.now()
            docs = []
            for index, ip in enumerate(addresses):
                doc = {
                    "id": hex_id("i"), "account": call.account, "region": call.region,
                    "reservation": reservation, "launch_index": index,
                    "image_id": image["ImageId"], "architecture": architecture(),
                    "layers": image["layers"],
                    "type": itype.name, "key_name": key_name, "user_data": user_data,
                    "public_key": key["public_key"] if key else None,
                    "client_token": token, "tags": tags, "ip": ip, "hostname": hostname(ip),
                    "fqdn": hostname(ip) + (".ec2.internal" if call.region == "us-east-1"
                                            else f".{call.region}.compute.internal"),
                    "subnet_id": subnet["SubnetId"], "vpc_id": subnet["VpcId"],
                    "network": subnet.get("_network"),
                    "az": subnet["AvailabilityZone"], "security_groups": groups,
                    "launch_time": now, "state": "pending", "reboots": 0, "rebooted": 0,
                    "disable_api_termination": bool(params.get("DisableApiTermination")),
                    "http_tokens": metadata.get("HttpTokens", "optional"),
                    "metadata_tags": metadata.get("InstanceMetadataTags", "disabled"),
                    "requester": call.identity.arn,
                    "monitoring": "enabled" if (params.get("Monitoring") or {}).get("Enabled")
                    else "disabled",
                }
                self.save(doc)
                docs.append(doc)
        self.launching(docs)
        for doc in docs:
            self.wake(call.account, call.region, doc["id"])
        self.publish_names(docs)
        self.groups_changed(call, {g["GroupId"] for g in groups}, launched=True)
        return self._reservation(docs)

    def _reservation(self, docs: list[dict[str, Any]]) -> dict[str, Any]:
        first = docs[0]
        return {
            "ReservationId": first["reservation"],
            "OwnerId": first["account"],
            "Groups": [],
            "Instances": [render.instance(d) for d in docs],
        }

    # -- Describe ---------------------------------------------------------------

    def describe_instances(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        ids = params.get("InstanceIds")
        limit = params.get("MaxResults")
        if ids and limit is not None:
            raise AWSError("InvalidParameterCombination",
                           "The parameter instancesSet cannot be used with the parameter "
                           "maxResults")
        getters = dict(render.FILTERS)
        getters["reservation-id"] = filters.field("_reservation")
        getters["owner-id"] = filters.field("_owner")
        for f in params.get("Filters") or []:
            name = f.get("Name", "")
            if name not in getters and not name.startswith("tag"):
                raise AWSError("InvalidParameterValue", f"The filter '{name}' is invalid")
        if ids:
            rendered = [_rendered(d) for d in self.instances(call, ids)]
        else:
            # (copies: the reservation fields are popped below; the rest is only read)
            rendered = [dict(r) for r in self._all_rendered(call)]
        rendered = filters.apply(rendered, params.get("Filters"), getters)
        rendered.sort(key=lambda r: (r["LaunchTime"], r["_reservation"], r["AmiLaunchIndex"]))
        page, token = rendered, None
        if limit is not None or params.get("NextToken"):
            page, token = paginate(
                rendered, params.get("NextToken"), limit,
                key=lambda r: (
                    f"{r['LaunchTime']:020.6f}|{r['_reservation']}|{r['AmiLaunchIndex']:04d}"
                ),
                default_limit=1000, min_limit=5, max_limit=1000,
            )
        reservations: dict[str, dict[str, Any]] = {}
        for r in page:
            rid, owner = r.pop("_reservation"), r.pop("_owner")
            res = reservations.setdefault(
                rid, {"ReservationId": rid, "OwnerId": owner, "Groups": [], "Instances": []}
            )
            res["Instances"].append(r)
        out: dict[str, Any] = {"Reservations": list(reservations.values())}
        if token:
            out["NextToken"] = token
        return out

    def _all_rendered(self, call: Call) -> list[dict[str, Any]]:
        """The region's instances as described, rendered once per change of the
        instance records (an idle fleet described again and again costs no
        decoding or rendering)."""
        cache: dict[tuple[str, str], tuple[int, list[dict[str, Any]]]] = self.__dict__.setdefault(
            "_render_cache", {})
        found = cache.get((call.account, call.region))
        if found is None or found[0] != self.generation:
            found = (self.generation, [_rendered(d) for d in self.instances(call, None)])
            cache[(call.account, call.region)] = found
        return found[1]

    def describe_instance_status(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        docs = self.instances(call, params.get("InstanceIds"))
        every = params.get("IncludeAllInstances", False)
        statuses = []
        for d in docs:
            if not every and d["state"] != "running":
                continue
            running = d["state"] == "running"
            booted = running and self.driver.booted(d["id"])
            status = "ok" if booted else ("initializing" if running else "not-applicable")
            detail = [{"Name": "reachability",
                       "Status": "passed" if booted else "initializing"}] if running else []
            statuses.append({
                "InstanceId": d["id"],
                "AvailabilityZone": d["az"],
                "InstanceState": render.state(d),
                "InstanceStatus": {"Status": status, "Details": detail},
                "SystemStatus": {"Status": status, "Details": detail},
                "Events": [],
            })
        getters = {
            "availability-zone": filters.field("AvailabilityZone"),
            "instance-state-name": filters.field("InstanceState.Name"),
            "instance-state-code": filters.field("InstanceState.Code"),
            "instance-status.status": filters.field("InstanceStatus.Status"),
            "system-status.status": filters.field("SystemStatus.Status"),
            "instance-status.reachability": filters.field("InstanceStatus.Details.Status"),
        }
        statuses = filters.apply(statuses, params.get("Filters"), getters)
        page, token = paginate(statuses, params.get("NextToken"), params.get("MaxResults"),
                               key=lambda s: str(s["InstanceId"]), default_limit=1000,
                               min_limit=5, max_limit=1000)
        out: dict[str, Any] = {"InstanceStatuses": page}
        if token:
            out["NextToken"] = token
        return out

    # -- lifecycle --------------------------------------------------------------

    def _change(self, call: Call, ids: list[str], act: Any) -> list[dict[str, Any]]:
        if not ids:
            raise AWSError("MissingParameter", "The request must contain the parameter InstanceIds")
        with self.store.tx():
            docs = self.instances(call, ids)
            before = {d["id"]: d["state"] for d in docs}
            for d in docs:
                act(d, check=True)
            for d in docs:
                act(d, check=False)
                self.save(d)
        for d in docs:
            self.wake(call.account, call.region, d["id"])
        return changes(docs, before)

    def start_instances(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        def act(d: dict[str, Any], check: bool) -> None:
            if check:
                if d["state"] not in ("stopped", "pending", "running"):
                    raise AWSError("IncorrectInstanceState",
                                   f"The instance '{d['id']}' is not in a state from which it "
                                   "can be started.")
                return
            if d["state"] == "stopped":
                d["state"], d["state_reason"] = "pending", None
                d["transition_reason"] = ""

        return {"StartingInstances": self._change(call, params.get("InstanceIds") or [], act)}

    def stop_instances(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        def act(d: dict[str, Any], check: bool) -> None:
            if check:
                if d["state"] in ("terminated", "shutting-down"):
                    raise AWSError("IncorrectInstanceState",
                                   f"This instance '{d['id']}' is not in a state from which it "
                                   "can be stopped.")
                return
            if d["state"] in ("pending", "running"):
                d["state"] = "stopping"
                d["state_reason"] = ["Client.UserInitiatedShutdown",
                                     "Client.UserInitiatedShutdown: User initiated shutdown"]
                d["transition_reason"] = f"User initiated ({self._stamp()})"

        return {"StoppingInstances": self._change(call, params.get("InstanceIds") or [], act)}

    def terminate_instances(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        def act(d: dict[str, Any], check: bool) -> None:
            if check:
                if d.get("disable_api_termination") and d["state"] != "terminated":
                    raise AWSError("OperationNotPermitted",
                                   f"The instance '{d['id']}' may not be terminated. Modify its "
                                   "'disableApiTermination' instance attribute and try again.")
                return
            if d["state"] not in ("terminated", "shutting-down"):
                d["state"] = "shutting-down"
                d["state_reason"] = ["Client.UserInitiatedShutdown",
                                     "Client.UserInitiatedShutdown: User initiated shutdown"]
                d["transition_reason"] = f"User initiated ({self._stamp()})"

        out = self._change(call, params.get("InstanceIds") or [], act)
        self.groups_changed(call, {g["GroupId"] for d in self.instances(call, [
            c["InstanceId"] for c in out]) for g in d.get("security_groups") or []})
        return {"TerminatingInstances": out}

    def reboot_instances(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        def act(d: dict[str, Any], check: bool) -> None:
            if check:
                if d["state"] in ("terminated", "shutting-down"):
                    raise AWSError("IncorrectInstanceState",
                                   f"The instance '{d['id']}' is not in a state from which it "
                                   "can be rebooted.")
                return
            if d["state"] == "running":
                d["reboots"] = d.get("reboots", 0) + 1

        self._change(call, params.get("InstanceIds") or [], act)
        return {}

    def _stamp(self) -> str:
        import time

        return time.strftime("%Y-%m-%d %H:%M:%S GMT", time.gmtime(self.now()))

    # -- console and attributes -------------------------------------------------

    def get_console_output(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        doc = self.instance(call, params.get("InstanceId", ""))
        output = self.driver.console(doc["id"])
        return {
            "InstanceId": doc["id"],
            "Timestamp": self.now(),
            "Output": base64.b64encode(output).decode() if output else "",
        }

    def modify_instance_attribute(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self.instance(call, params.get("InstanceId", ""))
            attribute, value = params.get("Attribute"), params.get("Value")
            new_type = (params.get("InstanceType") or {}).get("Value")
            if attribute == "instanceType":
                new_type = value
            user_data = (params.get("UserData") or {}).get("Value")
            if attribute == "userData":
                user_data = value
            disable = (params.get("DisableApiTermination") or {}).get("Value")
            if attribute == "disableApiTermination":
                disable = str(value).lower() == "true"
            groups = params.get("Groups")
            if groups is not None:
                before = {g["GroupId"] for g in doc["security_groups"]}
                doc["security_groups"] = self.groups_for_launch(
                    call, {"SecurityGroupIds": groups}, doc["vpc_id"])
                changed = before | {g["GroupId"] for g in doc["security_groups"]}
            if new_type is not None:
                instance_type(new_type)
                if doc["state"] != "stopped":
                    raise AWSError("IncorrectInstanceState",
                                   f"The instance '{doc['id']}' is not in the 'stopped' state.")
                doc["type"] = new_type
            if user_data is not None:
                if doc["state"] != "stopped":
                    raise AWSError("IncorrectInstanceState",
                                   f"The instance '{doc['id']}' is not in the 'stopped' state.")
                raw = user_data if isinstance(user_data, bytes) else str(user_data).encode()
                doc["user_data"] = base64.b64encode(raw).decode() if raw else None
            if disable is not None:
                doc["disable_api_termination"] = bool(disable)
            if groups is not None and not groups:
                raise AWSError("InvalidParameterValue", "At least one security group is required")
            if new_type is None and user_data is None and disable is None and groups is None:
                raise AWSError("InvalidParameterCombination",
                               "No attributes specified to modify")
            self.save(doc)
        if groups is not None:
            self.wake(call.account, call.region, doc["id"])
            self.groups_changed(call, changed)
        return {}

    def describe_instance_attribute(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        doc = self.instance(call, params.get("InstanceId", ""))
        attribute = params.get("Attribute")
        out: dict[str, Any] = {"InstanceId": doc["id"]}
        if attribute == "instanceType":
            out["InstanceType"] = {"Value": doc["type"]}
        elif attribute == "userData":
            out["UserData"] = {"Value": doc["user_data"]} if doc.get("user_data") else {}
        elif attribute == "disableApiTermination":
            out["DisableApiTermination"] = {"Value": bool(doc.get("disable_api_termination"))}
        elif attribute == "groupSet":
            out["Groups"] = doc["security_groups"]
        else:
            raise AWSError("InvalidParameterValue",
                           f"Value ({attribute}) for parameter attribute is invalid.")
        return out
