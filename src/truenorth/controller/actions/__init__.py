"""What the server drives: the controller's facade, its read views and its actions.

``facade.Controller`` starts the loops and answers the API: refresh, sync, approve and
rollback (each checked by :mod:`truenorth.core.guards`, then launched on the loop's
stack operations by ``launching``), and the views the API and UI read (``views``).
"""
