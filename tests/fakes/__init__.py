"""Small stand-ins for the ComfyUI host modules the nodes use (folder_paths, comfy.utils,
comfy.model_management), installed into ``sys.modules`` by the ``fake_host`` fixture."""
