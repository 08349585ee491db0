"""Parameter groups end to end: a group's maxmemory-policy reaches the
running Redis node, at its start and live when the group changes."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum

from .elasticache_support import cli, needs_redis, wait_cluster, wait_for

pytestmark = needs_redis


def test_parameter_group_reaches_redis(gureum: RunningGureum) -> None:
    ec = gureum.client("elasticache")
    tag = uuid.uuid4().hex[:6]
    pg, cid = f"pg-{tag}", f"pgc-{tag}"
    ec.create_cache_parameter_group(CacheParameterGroupName=pg,
                                    CacheParameterGroupFamily="redis7", Description="lru")
    ec.modify_cache_parameter_group(CacheParameterGroupName=pg, ParameterNameValues=[
        {"ParameterName": "maxmemory-policy", "ParameterValue": "allkeys-lru"}])
    with pytest.raises(ClientError) as e:
        ec.modify_cache_parameter_group(CacheParameterGroupName=pg, ParameterNameValues=[
            {"ParameterName": "maxmemory-policy", "ParameterValue": "whatever"}])
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"
    ec.create_cache_cluster(CacheClusterId=cid, CacheNodeType="cache.t3.micro",
                            Engine="redis", CacheParameterGroupName=pg)
    wait_cluster(ec, cid)
    c = ec.describe_cache_clusters(CacheClusterId=cid, ShowCacheNodeInfo=True)[
        "CacheClusters"][0]
    assert c["CacheParameterGroup"]["CacheParameterGroupName"] == pg
    host = c["CacheNodes"][0]["Endpoint"]["Address"]
    assert cli(host, 6379, "CONFIG", "GET", "maxmemory-policy").splitlines()[1] == "allkeys-lru"
    ec.modify_cache_parameter_group(CacheParameterGroupName=pg, ParameterNameValues=[
        {"ParameterName": "maxmemory-policy", "ParameterValue": "allkeys-lfu"}])
    wait_for(lambda: cli(host, 6379, "CONFIG", "GET", "maxmemory-policy").splitlines()[1]
             == "allkeys-lfu", 15, "the new policy applied live")
    ec.delete_cache_cluster(CacheClusterId=cid)
    wait_for(lambda: not [x for x in ec.describe_cache_clusters()["CacheClusters"]
                          if x["CacheClusterId"] == cid], 60, "the cluster deleted")
    ec.delete_cache_parameter_group(CacheParameterGroupName=pg)
