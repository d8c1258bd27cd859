"""Files in and out: images, masks, depth maps and videos (``media``), the atomic writer
(``atomic``), state dicts (``weights``) and bounded JSON reading (``jsontext``)."""
