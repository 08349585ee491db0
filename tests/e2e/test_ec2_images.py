"""CreateImage and DeregisterImage through boto3: an image made from an
instance's root volume carries its files (and its boot script) to new
instances, which still run their own user data; deregistering hides the
image at once and deletes its layer once no instance stands on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum

from .ec2_support import ec2_gureum, http_get, leftovers, root_only, wait_for

pytestmark = pytest.mark.skipif(root_only, reason="the namespace driver needs root")

SETUP = """#!/bin/bash
mkdir -p /srv/www && echo "baked into the image" > /srv/www/index.html
cat > /etc/rc.local <<'EOF2'
#!/bin/bash
cd /srv/www && exec python3 -m http.server 80
EOF2
chmod +x /etc/rc.local
exec /etc/rc.local
"""
OWN = "#!/bin/bash\necho 'own user data' >> /srv/www/index.html\n"


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with ec2_gureum() as g:
        yield g


def test_create_launch_deregister(cloud: RunningGureum) -> None:
    ec2 = cloud.client("ec2")
    base = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ids: list[str] = []
    try:
        source = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1,
                                   UserData=SETUP)["Instances"][0]
        ids.append(source["InstanceId"])
        wait_for(lambda: "baked" in http_get(f"http://{source['PrivateIpAddress']}/"))
        image_id = ec2.create_image(InstanceId=source["InstanceId"], Name="web-image",
                                    Description="a web server")["ImageId"]
        with pytest.raises(ClientError) as err:
            ec2.create_image(InstanceId=source["InstanceId"], Name="web-image")
        assert err.value.response["Error"]["Code"] == "InvalidAMIName.Duplicate"
        ec2.get_waiter("image_available").wait(ImageIds=[image_id],
                                               WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        mine = ec2.describe_images(Owners=["self"])["Images"]
        assert [(i["ImageId"], i["Name"], i["State"]) for i in mine] == [
            (image_id, "web-image", "available")]

        copy = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1,
                                 UserData=OWN)["Instances"][0]
        ids.append(copy["InstanceId"])
        assert copy["ImageId"] == image_id
        # The image's boot script serves the image's page, and its own user data ran.
        page = str(wait_for(lambda: (lambda p: "own user data" in p and p)(
            http_get(f"http://{copy['PrivateIpAddress']}/"))))
        assert "baked into the image" in page

        ec2.deregister_image(ImageId=image_id)
        assert ec2.describe_images(Owners=["self"])["Images"] == []
        with pytest.raises(ClientError) as err:
            ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1)
        assert err.value.response["Error"]["Code"] == "InvalidAMIID.NotFound"
        # The running copy still stands on the layer: it stays until the copy is gone.
        layer = cloud.data_dir / "ec2" / "layers" / image_id
        assert layer.is_dir()
        assert "baked" in http_get(f"http://{copy['PrivateIpAddress']}/")
    finally:
        if ids:
            ec2.terminate_instances(InstanceIds=ids)
            ec2.get_waiter("instance_terminated").wait(
                InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert leftovers(ids, cloud.data_dir) == []
