"""Secrets stored encrypted in the database (camera passwords, webhook secrets): imports nothing of ours."""
