"""truenorth: a GitOps control plane for Terraform, Ansible and Kubernetes.

The package is layered (see ``docs/architecture.md``): ``cli`` and ``server`` on top,
then ``controller``, then ``engines``, then the pure ``core``, then the adapters
``git``, ``store``, ``notify`` and ``forges``, and at the bottom ``texts`` (untrusted text
made safe, used by all). import-linter enforces it.
"""

__version__ = "0.1.0"
