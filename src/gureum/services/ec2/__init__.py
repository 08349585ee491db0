"""EC2: the service object; its operations live in modules by resource.

Instances are real, isolated process trees run by a compute driver
(``gureum.drivers.compute``); ``lifecycle.py`` is the loop that drives them,
``metadata.py`` the metadata service they reach at 169.254.169.254.
"""

from __future__ import annotations

from ..base import Env
from .catalog import CatalogOperations
from .catalog import images as catalog_images
from .images import ImageOperations
from .instances import InstanceOperations
from .keypairs import KeyPairOperations
from .lifecycle import Lifecycle
from .monitoring import MonitoringOperations
from .regions import RegionOperations, all_regions
from .tags import TagOperations
from .templates import LaunchTemplateOperations


class EC2(
    RegionOperations,
    CatalogOperations,
    InstanceOperations,
    KeyPairOperations,
    TagOperations,
    LaunchTemplateOperations,
    MonitoringOperations,
    Lifecycle,
):
    name = "ec2"

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self.setup_lifecycle()

    # The catalog's images and those made by CreateImage.
    describe_images = ImageOperations.describe_images

    async def start(self) -> None:
        await super().start()
        self.setup_images()

    def warm(self) -> None:
        all_regions()
        # (``images`` here is the submodule: importing it rebinds the name.)
        catalog_images()
