"""The demo scene: its image, depth, masks and tracks (``demo/``) and the code that builds it."""
