"""Plumbing shared by the gateway and the services: imported, never run."""
