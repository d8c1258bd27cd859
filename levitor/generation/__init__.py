"""Generation: SVD-xt steered by the LeviTor ControlNet.

Dependencies point one way: :mod:`.options` (names and defaults, no torch) and :mod:`.models`
← :mod:`.configs` (config validation) ← :mod:`.loading` ← :mod:`.pipeline` (and the trainer,
the CLI and the nodes above them). :mod:`.conditioning` holds the image conditioning that
sampling and training share.
"""
