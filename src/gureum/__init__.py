"""gureum (구름, "cloud"): a real cloud on one machine that speaks the AWS APIs."""

__version__ = "0.1.0"
