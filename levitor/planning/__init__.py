"""Planning: image → scene → tracks → moved masks → control points → control maps.

One module per stage, in the order of the flow:

* :mod:`.scene` -- depth conventions and the labelled :class:`~.scene.Scene`;
* :mod:`.tracks` -- the tracks JSON, KJNodes ``coord_str`` parsing, PCHIP resampling;
* :mod:`.render` -- pure-torch point splatting: moved label and depth maps with occlusion;
* :mod:`.keypoints` -- the adaptive k rule and K-means control points;
* :mod:`.control` -- the ``(F, 3, H, W)`` control maps;
* :mod:`.options` -- :class:`~.options.PlanOptions`: every option, its name and default, once;
* :mod:`.stages` -- the stage functions every front end calls: :func:`~.stages.build_scene`,
  :func:`~.stages.render_stage`, :func:`~.stages.control_stage`;
* :mod:`.plan` -- :func:`~.plan.build_plan`, the stages in a row.
* :mod:`.warp` -- :func:`~.warp.warped_video`: the image's objects moved along their tracks, after
  the render (a preview, and a control video with its mask).

Nothing here imports the generator, diffusers or ComfyUI.
"""
