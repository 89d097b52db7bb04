"""One recorded engine run, and what it needs: the room both paths share.

``executing`` plans or applies one stack and records the run whatever happens;
``sources`` turns a repository and a ref into a read-only checkout; ``validating``
checks that checkout; ``runtime`` opens the store, engines and mirrors of a data dir
(``layout``), with secrets by reference (``secrets``), the engine ``registry`` and the
holder that names this process in the runs it records (``ownership``); ``carrying``
moves the engine state files replicas share between the store and a stack's state dir.
"""
