"""Node processes belong to gureum: an orderly restart keeps the data (each
node writes its RDB file at shutdown and loads it at start), and no
redis-server outlives a gureum that stops or is killed."""

from __future__ import annotations

from gureum.testing.server import running_gureum

from .elasticache_support import cli, needs_redis, redis_pids, wait_cluster, wait_for, wait_group

pytestmark = needs_redis


def test_restart_keeps_data_and_leaves_no_process() -> None:
    with running_gureum() as g:
        ec = g.client("elasticache")
        ec.create_cache_cluster(CacheClusterId="keep", CacheNodeType="cache.t3.micro",
                                Engine="redis")
        ec.create_replication_group(ReplicationGroupId="grp", ReplicationGroupDescription="d",
                                    NumCacheClusters=2, AutomaticFailoverEnabled=True)
        wait_cluster(ec, "keep")
        grp = wait_group(ec, "grp")
        node = ec.describe_cache_clusters(CacheClusterId="keep", ShowCacheNodeInfo=True)[
            "CacheClusters"][0]["CacheNodes"][0]["Endpoint"]
        primary = grp["NodeGroups"][0]["PrimaryEndpoint"]
        cli(node["Address"], 6379, "SET", "k", "kept")
        cli(primary["Address"], 6379, "SET", "g", "kept too")
        assert len(redis_pids(g.data_dir)) == 3

        g.stop()
        assert redis_pids(g.data_dir) == []
        g.start()
        ec = g.client("elasticache")
        wait_for(lambda: cli(node["Address"], 6379, "GET", "k", check=False) == "kept", 20,
                 "the node to come back with its data")
        wait_for(lambda: cli(primary["Address"], 6379, "GET", "g", check=False) == "kept too",
                 20, "the group to come back with its data")
        # The replica is started once its primary answers: it may come a little later.
        wait_for(lambda: len(redis_pids(g.data_dir)) == 3, 20, "all three servers back")
        assert len(redis_pids(g.data_dir)) == 3

        g.stop(kill=True)  # SIGKILL: the nodes die with their parent
        wait_for(lambda: redis_pids(g.data_dir) == [], 10, "no redis-server left")
