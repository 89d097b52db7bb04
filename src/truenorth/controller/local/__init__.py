"""The CLI's one-shot path: plan and apply a revision, sync, approve and roll back, and
render Kubernetes manifests, on the local data dir without a running controller.

It applies the same rules as the controller (:mod:`truenorth.core.guards`,
:mod:`truenorth.core.walks`) and records runs through the same :mod:`..runs` room.
"""
