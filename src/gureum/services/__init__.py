"""The services gureum runs. Each is a ``Service`` subclass whose methods are its
operations; ``SERVICES`` maps the botocore service name to the class."""

from __future__ import annotations

from .acm import ACM
from .autoscaling import AutoScaling
from .base import Service
from .budgets import Budgets
from .ce import CostExplorer
from .cloudwatch import CloudWatch
from .ec2 import EC2
from .elasticache import ElastiCache
from .elbv2 import ELBv2
from .iam import IAM
from .pricing import Pricing
from .rds import RDS
from .s3 import S3
from .secretsmanager import SecretsManager
from .secretsmanager import metering as _secretsmanager_metering  # noqa: F401  (its bill)
from .sts import STS

SERVICES: dict[str, type[Service]] = {
    cls.name: cls
    for cls in (STS, EC2, S3, CloudWatch, ELBv2, RDS, ElastiCache, AutoScaling,
                CostExplorer, Budgets, Pricing, ACM, SecretsManager, IAM)
}
