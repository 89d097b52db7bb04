"""Engines: the boundary to Terraform, Ansible and Kubernetes, behind one protocol.

Each engine package is independent of the others (import-linter checks it). They share
only :mod:`truenorth.engines.protocol` and :mod:`truenorth.engines.processes`.
"""
