"""Helpers every service needs: ids and ARNs, EC2 filters, pagination, tags."""
