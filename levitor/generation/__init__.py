"""Generation: SVD-xt steered by the LeviTor ControlNet.

Dependencies point one way: :mod:`.models` ← :mod:`.loading` ← :mod:`.pipeline` (and the
trainer, the CLI and the nodes above them). :mod:`.conditioning` holds the image conditioning
that sampling and training share.
"""
