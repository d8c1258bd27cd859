"""Planning: image → scene → tracks → moved masks → control points → control maps.

One module per stage, in the order of the flow:

* :mod:`.scene` -- depth conventions and the labelled :class:`~.scene.Scene`;
* :mod:`.tracks` -- the tracks JSON, KJNodes ``coord_str`` parsing, PCHIP resampling;
* :mod:`.render` -- pure-torch point splatting: moved label and depth maps with occlusion;
* :mod:`.keypoints` -- the adaptive k rule and K-means control points;
* :mod:`.control` -- the ``(F, 3, H, W)`` control maps;
* :mod:`.plan` -- :func:`~.plan.build_plan`, the whole flow in one call.

Nothing here imports the generator, diffusers or ComfyUI.
"""
