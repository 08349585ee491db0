"""Alarm operations: PutMetricAlarm, DescribeAlarms(ForMetric), DescribeAlarmHistory,
SetAlarmState, Enable/DisableAlarmActions, DeleteAlarms and alarm tags.

An alarm is a resource document (kind ``cloudwatch:alarm``, id its name)
holding the MetricAlarm fields; keys starting with ``_`` are gureum's own
(account, region, next evaluation, actions still to run) and ``Tags``."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from gureum.errors import AWSError
from gureum.services.common import tags as tagging
from gureum.services.common.ids import arn, parse_arn
from gureum.services.common.pagination import decode_token, encode_token

from ..base import Call, Service
from .alarmloop import COMPOSITE_KIND, KIND, AlarmLoop, transition
from .evaluate import BAND_COMPARE, COMPARE, STATES
from .history import HISTORY_TYPES, query, record
from .mathexpr import ExpressionError, parse
from .metrics import dims_of, epoch_of
from .statistics import BASIC, PERCENTILE, check_period

MAX_EVALUATION_SECONDS = 7 * 86400
TREAT_MISSING = ("breaching", "notBreaching", "ignore", "missing")
MAX_ALARM_NAMES = 100


def bad(message: str, code: str = "ValidationError") -> AWSError:
    return AWSError(code, message)


def public(alarm: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in alarm.items() if not k.startswith("_") and k != "Tags"}


def check_actions(params: dict[str, Any]) -> None:
    for field in ("OKActions", "AlarmActions", "InsufficientDataActions"):
        actions = params.get(field) or []
        if len(actions) > 5:
            raise bad(f"The collection {field} must not have a size greater than 5.")
        for action in actions:
            if parse_arn(action) is None:
                raise bad(f"Invalid arn syntax: {action}")


def check_metrics(params: dict[str, Any]) -> None:
    """The Metrics (metric math) form of an alarm."""
    queries = params["Metrics"]
    if any(params.get(k) for k in ("MetricName", "Namespace", "Statistic",
                                   "ExtendedStatistic", "Dimensions", "Period", "Unit")):
        raise bad("Metrics list cannot be combined with MetricName, Namespace, Statistic, "
                  "ExtendedStatistic, Dimensions, Period or Unit.")
    band_id = params.get("ThresholdMetricId")
    returned = [q for q in queries if q.get("ReturnData", True) and q.get("Id") != band_id]
    if len(returned) != 1:
        raise bad("Metrics list must contain exactly one metric matching the ReturnData "
                  "parameter.")
    ids = {q.get("Id") for q in queries}
    if band_id is not None and band_id not in ids:
        raise bad(f"ThresholdMetricId {band_id} does not name a query of Metrics.")
    for q in queries:
        if q.get("MetricStat"):
            check_period(int(q["MetricStat"].get("Period") or 0), "MetricStat.Period")
        elif q.get("Expression"):
            try:
                parse(q["Expression"])
            except ExpressionError as exc:
                raise bad(f"Error in expression {q.get('Id')}: {exc.message}") from None
        else:
            raise bad(f"The metric data query {q.get('Id')} needs MetricStat or Expression.")


def check_alarm_period(period: int) -> None:
    """Alarms evaluate every 10 or 30 seconds (high resolution) or whole minutes."""
    if period not in (10, 30) and (period < 60 or period % 60):
        raise bad("The parameter Period must be 10, 30, or a multiple of 60.",
                  "InvalidParameterValue")


def check_alarm(params: dict[str, Any]) -> None:
    op = params["ComparisonOperator"]
    if op not in COMPARE and op not in BAND_COMPARE:
        raise bad(f"The value {op} for parameter ComparisonOperator is invalid.")
    if op in BAND_COMPARE and not params.get("ThresholdMetricId"):
        raise bad(f"ComparisonOperator {op} needs ThresholdMetricId (a band of two series).")
    if op in COMPARE and params.get("Threshold") is None:
        raise bad("Threshold is required for a static threshold alarm.")
    if params.get("Metrics"):
        check_metrics(params)
    else:
        if not params.get("MetricName") or not params.get("Namespace"):
            raise bad("MetricName and Namespace are required unless Metrics is given.")
        stat, ext = params.get("Statistic"), params.get("ExtendedStatistic")
        if bool(stat) == bool(ext):
            raise AWSError("InvalidParameterCombination",
                           "Exactly one of Statistic and ExtendedStatistic must be specified.")
        if stat and stat not in BASIC:
            raise bad(f"The value {stat} for parameter Statistic is invalid.")
        if ext and not PERCENTILE.match(ext):
            raise bad(f"The value {ext} for parameter ExtendedStatistic is invalid.")
        if params.get("Period") is None:
            raise bad("Period is required unless Metrics is given.")
        check_alarm_period(int(params["Period"]))
        dims_of(params.get("Dimensions"), "Dimensions")
    n = int(params["EvaluationPeriods"])
    if n < 1:
        raise bad("EvaluationPeriods must be at least 1.")
    m = params.get("DatapointsToAlarm")
    if m is not None and not 1 <= int(m) <= n:
        raise bad("DatapointsToAlarm must be between 1 and EvaluationPeriods.")
    treat = params.get("TreatMissingData")
    if treat is not None and treat not in TREAT_MISSING:
        raise bad(f"The value {treat} for parameter TreatMissingData is invalid.")
    period = int(params.get("Period") or 60)
    if period * n > MAX_EVALUATION_SECONDS:
        raise bad("The evaluation period (Period * EvaluationPeriods) must not exceed 7 days.")
    check_actions(params)


def new_alarm(call: Call, name: str, params: dict[str, Any], now: float) -> dict[str, Any]:
    """The record of a new metric or composite alarm, before its configuration."""
    return {
        "AlarmName": name,
        "AlarmArn": arn("cloudwatch", call.region, call.account, f"alarm:{name}"),
        "StateValue": "INSUFFICIENT_DATA",
        "StateReason": "Unchecked: Initial alarm creation",
        "StateUpdatedTimestamp": now, "StateTransitionedTimestamp": now,
        "Tags": tagging.to_dict(params.get("Tags")),
        "_account": call.account, "_region": call.region,
    }


def configure(alarm: dict[str, Any], params: dict[str, Any], fields: Iterable[str]) -> None:
    """Replace an alarm's configuration with the one a Put call gives."""
    for field in fields:
        alarm.pop(field, None)
        if params.get(field) is not None:
            alarm[field] = params[field]
    for field in ("OKActions", "AlarmActions", "InsufficientDataActions"):
        alarm.setdefault(field, [])
    alarm["ActionsEnabled"] = bool(params.get("ActionsEnabled", True))


CONFIG_FIELDS = (
    "AlarmDescription", "OKActions", "AlarmActions", "InsufficientDataActions", "MetricName",
    "Namespace", "Statistic", "ExtendedStatistic", "Dimensions", "Period", "Unit",
    "EvaluationPeriods", "DatapointsToAlarm", "Threshold", "ComparisonOperator",
    "TreatMissingData", "EvaluateLowSampleCountPercentile", "Metrics", "ThresholdMetricId",
)


class AlarmOps(Service):
    alarm_loop: AlarmLoop

    def _get(self, call: Call, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.env.store.resources.get(
            KIND, call.account, call.region, name)
        return found

    def _all(self, call: Call) -> list[dict[str, Any]]:
        found = self.env.store.resources.list(KIND, call.account, call.region)
        return sorted(found, key=lambda a: a["AlarmName"])

    def put_metric_alarm(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        check_alarm(params)
        name = params["AlarmName"]
        now = self.env.clock.now()
        with self.env.store.tx():
            alarm = self._get(call, name)
            created = alarm is None
            if alarm is None:
                alarm = new_alarm(call, name, params, now)
            configure(alarm, params, CONFIG_FIELDS)
            alarm.setdefault("Dimensions", [])
            alarm["AlarmConfigurationUpdatedTimestamp"] = now
            alarm["_next"] = now
            self.env.store.resources.put(KIND, call.account, call.region, name, alarm)
            record(self.env.store.connection, call.account, call.region, name, now,
                   "ConfigurationUpdate", f"Alarm \"{name}\" {'created' if created else 'updated'}",
                   json.dumps({"version": "1.0", "type": "Create" if created else "Update",
                               "updatedAlarm": public(alarm)}, default=str))
        self.alarm_loop.wake(call.account, call.region, name)
        return {}

    def describe_alarms(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        names = params.get("AlarmNames") or []
        prefix = params.get("AlarmNamePrefix")
        if names and prefix:
            raise AWSError("InvalidParameterCombination",
                           "AlarmNames and AlarmNamePrefix cannot be combined.")
        if len(names) > MAX_ALARM_NAMES:
            raise bad(f"The collection AlarmNames must not have a size greater than "
                      f"{MAX_ALARM_NAMES}.", "InvalidParameterValue")
        state = params.get("StateValue")
        action_prefix = params.get("ActionPrefix")
        types = params.get("AlarmTypes") or ["MetricAlarm"]
        limit = int(params.get("MaxRecords") or 50)
        if not 1 <= limit <= 100:
            raise bad("MaxRecords must be between 1 and 100.", "InvalidParameterValue")
        for t in types:
            if t not in ("MetricAlarm", "CompositeAlarm"):
                raise bad(f"The value {t} for parameter AlarmTypes is invalid.")
        alarms = self._all(call) if "MetricAlarm" in types else []
        if "CompositeAlarm" in types:
            alarms = sorted(alarms + self._composites(call), key=lambda a: a["AlarmName"])
        children = params.get("ChildrenOfAlarmName")
        parents = params.get("ParentsOfAlarmName")
        if children or parents:
            if names or prefix or state or action_prefix:
                raise AWSError("InvalidParameterCombination", "ChildrenOfAlarmName and "
                               "ParentsOfAlarmName cannot be combined with other filters.")
            alarms = self._family(call, alarms, children, parents)
        if names:
            alarms = [a for a in alarms if a["AlarmName"] in names]
        if prefix:
            alarms = [a for a in alarms if a["AlarmName"].startswith(prefix)]
        if state:
            alarms = [a for a in alarms if a["StateValue"] == state]
        if action_prefix:
            alarms = [a for a in alarms if any(
                x.startswith(action_prefix) for f in ("OKActions", "AlarmActions",
                                                      "InsufficientDataActions")
                for x in a.get(f) or [])]
        if params.get("NextToken"):
            after = decode_token(params["NextToken"], "InvalidNextToken")
            if not isinstance(after, str):
                raise AWSError("InvalidNextToken", "The NextToken is invalid.")
            alarms = [a for a in alarms if a["AlarmName"] > after]
        page = alarms[:limit]
        out: dict[str, Any] = {
            "MetricAlarms": [public(a) for a in page if "_children" not in a],
            "CompositeAlarms": [public(a) for a in page if "_children" in a]}
        if len(alarms) > limit:
            out["NextToken"] = encode_token(page[-1]["AlarmName"])
        return out

    def _composites(self, call: Call) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.env.store.resources.list(
            COMPOSITE_KIND, call.account, call.region)
        return found

    def _family(self, call: Call, alarms: list[dict[str, Any]], children: str | None,
                parents: str | None) -> list[dict[str, Any]]:
        """The alarms a composite's rule names, or the composites naming an alarm."""
        if children:
            parent = self.env.store.resources.get(COMPOSITE_KIND, call.account, call.region,
                                                  children)
            named = set(parent["_children"]) if parent else set()
            return [a for a in alarms if a["AlarmName"] in named]
        return [a for a in alarms if parents in (a.get("_children") or ())]

    def describe_alarms_for_metric(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        dims = dims_of(params.get("Dimensions"), "Dimensions")
        wanted = {k: params.get(k) for k in ("Statistic", "ExtendedStatistic", "Period", "Unit")
                  if params.get(k) is not None}

        def same_metric(metric: dict[str, Any]) -> bool:
            return (metric.get("MetricName") == params["MetricName"]
                    and metric.get("Namespace") == params["Namespace"]
                    and (params.get("Dimensions") is None
                         or dims_of(metric.get("Dimensions"), "Dimensions") == dims))

        found = []
        for alarm in self._all(call):
            if alarm.get("Metrics"):
                hit = any(same_metric(q["MetricStat"]["Metric"]) for q in alarm["Metrics"]
                          if q.get("MetricStat"))
            else:
                hit = same_metric(alarm) and all(alarm.get(k) == v for k, v in wanted.items())
            if hit:
                found.append(public(alarm))
        return {"MetricAlarms": found}

    def delete_alarms(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        names = params["AlarmNames"]
        if len(names) > MAX_ALARM_NAMES:
            raise bad(f"The collection AlarmNames must not have a size greater than "
                      f"{MAX_ALARM_NAMES}.", "InvalidParameterValue")
        with self.env.store.tx():
            kinds = {n: self._kind_of(call, n) for n in names}
            missing = [n for n, k in kinds.items() if k is None]
            if missing:
                raise AWSError("ResourceNotFound", f"{len(missing)} or more alarms not found: "
                               + ", ".join(missing), 404)
            for name, kind in kinds.items():
                self.env.store.resources.delete(kind, call.account, call.region, name)
        return {}

    def _kind_of(self, call: Call, name: str) -> str | None:
        for kind in (KIND, COMPOSITE_KIND):
            if self.env.store.resources.get(kind, call.account, call.region, name) is not None:
                return kind
        return None

    def set_alarm_state(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        state = params["StateValue"]
        if state not in STATES:
            raise bad(f"The value {state} for parameter StateValue is invalid.",
                      "InvalidParameterValue")
        data = params.get("StateReasonData")
        if data is not None:
            try:
                json.loads(data)
            except ValueError:
                raise AWSError("InvalidFormat", "StateReasonData is not valid JSON.") from None
        now = self.env.clock.now()
        with self.env.store.tx():
            kind = self._kind_of(call, params["AlarmName"])
            alarm = None if kind is None else self.env.store.resources.get(
                kind, call.account, call.region, params["AlarmName"])
            if kind is None or alarm is None:
                raise AWSError("ResourceNotFound",
                               f"Alarm {params['AlarmName']} not found", 404)
            if alarm["StateValue"] != state:
                transition(self.env, call.account, call.region, alarm, state,
                           params["StateReason"], data, now)
                self.env.store.resources.put(kind, call.account, call.region,
                                             alarm["AlarmName"], alarm)
        if kind == KIND:
            self.alarm_loop.wake(call.account, call.region, params["AlarmName"])
        else:  # a composite's actions run (and its parents re-read it) in its own loop
            self.alarm_loop.on_change(call.account, call.region, params["AlarmName"])
        return {}

    def _set_actions_enabled(self, call: Call, names: list[str], enabled: bool) -> None:
        with self.env.store.tx():
            for name in names:
                kind = self._kind_of(call, name)
                alarm = None if kind is None else self.env.store.resources.get(
                    kind, call.account, call.region, name)
                if kind is not None and alarm is not None:
                    alarm["ActionsEnabled"] = enabled
                    self.env.store.resources.put(kind, call.account, call.region, name, alarm)

    def enable_alarm_actions(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        self._set_actions_enabled(call, params["AlarmNames"], True)
        return {}

    def disable_alarm_actions(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        self._set_actions_enabled(call, params["AlarmNames"], False)
        return {}

    def describe_alarm_history(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        kind = params.get("HistoryItemType")
        if kind is not None and kind not in HISTORY_TYPES:
            raise bad(f"The value {kind} for parameter HistoryItemType is invalid.",
                      "InvalidParameterValue")
        limit = int(params.get("MaxRecords") or 100)
        if not 1 <= limit <= 100:
            raise bad("MaxRecords must be between 1 and 100.", "InvalidParameterValue")
        after = None
        if params.get("NextToken"):
            after = decode_token(params["NextToken"], "InvalidNextToken")
            if not isinstance(after, int):
                raise AWSError("InvalidNextToken", "The NextToken is invalid.")
        types = params.get("AlarmTypes") or ["MetricAlarm"]
        composites = {a["AlarmName"] for a in self._composites(call)}
        rows = query(
            self.env.store.connection, call.account, call.region,
            alarm=params.get("AlarmName"), kind=kind,
            start=epoch_of(params["StartDate"]) if params.get("StartDate") else None,
            end=epoch_of(params["EndDate"]) if params.get("EndDate") else None,
            descending=(params.get("ScanBy") or "TimestampDescending") == "TimestampDescending",
            after=after, limit=limit + 1,
        )
        for _, item in rows:
            if item["AlarmName"] in composites:
                item["AlarmType"] = "CompositeAlarm"
        out: dict[str, Any] = {"AlarmHistoryItems": [item for _, item in rows[:limit]
                                                     if item["AlarmType"] in types]}
        if len(rows) > limit:
            out["NextToken"] = encode_token(rows[limit - 1][0])
        return out

    # -- tags ------------------------------------------------------------

    def _tagged(self, call: Call, resource_arn: str) -> dict[str, Any]:
        parts = parse_arn(resource_arn)
        if parts is None or parts["service"] != "cloudwatch":
            raise AWSError("InvalidParameterValue", f"Invalid ARN: {resource_arn}")
        kind, _, name = parts["resource"].partition(":")
        alarm: dict[str, Any] | None = None
        if kind == "alarm" and parts["account"] == call.account:
            alarm = (self.env.store.resources.get(KIND, call.account, parts["region"], name)
                     or self.env.store.resources.get(COMPOSITE_KIND, call.account,
                                                     parts["region"], name))
        if alarm is None:
            raise AWSError("ResourceNotFoundException",
                           f"The resource {resource_arn} does not exist.", 404)
        return alarm

    def tag_resource(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.env.store.tx():
            alarm = self._tagged(call, params["ResourceARN"])
            added = tagging.to_dict(params["Tags"], "InvalidParameterValue")
            alarm["Tags"] = tagging.merge(alarm.get("Tags") or {}, added)
            self.env.store.resources.put(COMPOSITE_KIND if "_children" in alarm else KIND,
                                         alarm["_account"], alarm["_region"],
                                         alarm["AlarmName"], alarm)
        return {}

    def untag_resource(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.env.store.tx():
            alarm = self._tagged(call, params["ResourceARN"])
            drop = set(params["TagKeys"])
            alarm["Tags"] = {k: v for k, v in (alarm.get("Tags") or {}).items() if k not in drop}
            self.env.store.resources.put(COMPOSITE_KIND if "_children" in alarm else KIND,
                                         alarm["_account"], alarm["_region"],
                                         alarm["AlarmName"], alarm)
        return {}

    def list_tags_for_resource(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        alarm = self._tagged(call, params["ResourceARN"])
        return {"Tags": tagging.to_list(alarm.get("Tags"))}
