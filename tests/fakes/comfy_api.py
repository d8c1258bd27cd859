"""A stand-in for ComfyUI's V3 node API (``comfy_api.v0_0_2``), the parts this pack uses.

It follows ComfyUI 0.3.64's ``comfy_api.latest._io``: the same constructor arguments (unknown ones
are a ``TypeError``, as there), the same V1 ``INPUT_TYPES`` it derives from a schema (combos as
``("COMBO", {"options": [...]})``, hidden inputs as ``{"unique_id": ("UNIQUE_ID",)}``), the same
``RETURN_*`` class attributes, ``NodeOutput`` and ``hidden`` on a per-run class clone. The real
host (tests/integration) stays the judge; this lets the unit tests run without ComfyUI.
"""

from __future__ import annotations

import inspect
import sys
import types
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from typing import Any


def _prune(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


class Hidden(str, Enum):
    unique_id = "UNIQUE_ID"
    prompt = "PROMPT"
    extra_pnginfo = "EXTRA_PNGINFO"
    dynprompt = "DYNPROMPT"


class HiddenHolder:
    def __init__(self, values: dict):
        self.unique_id = values.get(Hidden.unique_id)
        self.prompt = values.get(Hidden.prompt)
        self.extra_pnginfo = values.get(Hidden.extra_pnginfo)

    def __getattr__(self, key):
        return None


class Input:
    io_type = None

    def __init__(self, id: str, display_name: str = None, optional=False, tooltip: str = None, lazy: bool = None):
        self.id, self.display_name, self.optional, self.tooltip, self.lazy = id, display_name, optional, tooltip, lazy

    def as_dict(self) -> dict:
        return _prune({"display_name": self.display_name, "optional": self.optional,
                       "tooltip": self.tooltip, "lazy": self.lazy})

    def get_io_type(self):
        return self.io_type


class WidgetInput(Input):
    def __init__(self, id, display_name=None, optional=False, tooltip=None, lazy=None, default=None,
                 socketless=None, force_input=None):
        super().__init__(id, display_name, optional, tooltip, lazy)
        self.default, self.socketless, self.force_input = default, socketless, force_input

    def as_dict(self) -> dict:
        return super().as_dict() | _prune({"default": self.default, "socketless": self.socketless,
                                           "forceInput": self.force_input})


class Output:
    io_type = None

    def __init__(self, id: str = None, display_name: str = None, tooltip: str = None, is_output_list=False):
        self.id, self.display_name, self.tooltip, self.is_output_list = id, display_name, tooltip, is_output_list


def _type(io_type: str, input_cls=Input, **attrs) -> type:
    inp = type("Input", (input_cls,), {"io_type": io_type})
    out = type("Output", (Output,), {"io_type": io_type})
    return type(io_type.title(), (), {"io_type": io_type, "Input": inp, "Output": out, **attrs})


def Custom(io_type: str) -> type:
    return _type(io_type)


class _BooleanInput(WidgetInput):
    def __init__(self, id, display_name=None, optional=False, tooltip=None, lazy=None, default=None, label_on=None,
                 label_off=None, socketless=None, force_input=None):
        super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, force_input)
        self.label_on, self.label_off = label_on, label_off

    def as_dict(self):
        return super().as_dict() | _prune({"label_on": self.label_on, "label_off": self.label_off})


class _IntInput(WidgetInput):
    def __init__(self, id, display_name=None, optional=False, tooltip=None, lazy=None, default=None, min=None,
                 max=None, step=None, control_after_generate=None, display_mode=None, socketless=None,
                 force_input=None):
        super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, force_input)
        self.min, self.max, self.step, self.control_after_generate = min, max, step, control_after_generate

    def as_dict(self):
        return super().as_dict() | _prune({"min": self.min, "max": self.max, "step": self.step,
                                           "control_after_generate": self.control_after_generate})


class _FloatInput(WidgetInput):
    def __init__(self, id, display_name=None, optional=False, tooltip=None, lazy=None, default=None, min=None,
                 max=None, step=None, round=None, display_mode=None, socketless=None, force_input=None):
        super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, force_input)
        self.min, self.max, self.step, self.round = min, max, step, round

    def as_dict(self):
        return super().as_dict() | _prune({"min": self.min, "max": self.max, "step": self.step, "round": self.round})


class _StringInput(WidgetInput):
    def __init__(self, id, display_name=None, optional=False, tooltip=None, lazy=None, multiline=False,
                 placeholder=None, default=None, dynamic_prompts=None, socketless=None, force_input=None):
        super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, force_input)
        self.multiline, self.placeholder, self.dynamic_prompts = multiline, placeholder, dynamic_prompts

    def as_dict(self):
        return super().as_dict() | _prune({"multiline": self.multiline, "placeholder": self.placeholder,
                                           "dynamicPrompts": self.dynamic_prompts})


class _ComboInput(WidgetInput):
    def __init__(self, id, options=None, display_name=None, optional=False, tooltip=None, lazy=None, default=None,
                 control_after_generate=None, upload=None, image_folder=None, remote=None, socketless=None):
        super().__init__(id, display_name, optional, tooltip, lazy, default, socketless)
        self.options = list(options) if options is not None else None
        self.control_after_generate = control_after_generate

    def as_dict(self):
        return super().as_dict() | _prune({"multiselect": False, "options": self.options,
                                           "control_after_generate": self.control_after_generate})


Boolean = _type("BOOLEAN", _BooleanInput)
Int = _type("INT", _IntInput)
Float = _type("FLOAT", _FloatInput)
String = _type("STRING", _StringInput)
Combo = _type("COMBO", _ComboInput)
Image = _type("IMAGE")
Mask = _type("MASK")
Conditioning = _type("CONDITIONING")
ClipVision = _type("CLIP_VISION")
Vae = _type("VAE")
Latent = _type("LATENT")
Tracks = _type("TRACKS")  # from the ComfyUI releases with the Wan-Move nodes (not in 0.3.64)


@dataclass
class Schema:
    node_id: str
    display_name: str = None
    category: str = "sd"
    inputs: list = None
    outputs: list = None
    hidden: list = None
    description: str = ""
    is_input_list: bool = False
    is_output_node: bool = False
    is_deprecated: bool = False
    is_experimental: bool = False
    is_api_node: bool = False
    not_idempotent: bool = False
    enable_expand: bool = False

    def validate(self):
        ids = [i.id for i in self.inputs or []] + [o.id for o in self.outputs or []]
        if len(set(ids)) != len(ids):
            raise ValueError(f"input and output ids must be unique: {ids}")

    def v1_inputs(self) -> dict:
        spec: dict = {"required": {}}
        for i in self.inputs or []:
            opts = i.as_dict()
            opts.pop("optional", None)
            spec.setdefault("optional" if i.optional else "required", {})[i.id] = (i.get_io_type(), opts)
        for h in self.hidden or []:
            spec.setdefault("hidden", {})[h.name] = (h.value,)
        return spec


class NodeOutput:
    def __init__(self, *args: Any, ui: dict = None, expand: dict = None, block_execution: str = None):
        self.args, self.ui, self.expand, self.block_execution = args, ui, expand, block_execution

    @property
    def result(self):
        return self.args if len(self.args) > 0 else None

    def __getitem__(self, index):
        return self.args[index]


class _classproperty:
    def __init__(self, f):
        self.f = f

    def __get__(self, obj, owner):
        return self.f(owner)


class ComfyNode:
    """Base of V3 nodes: ``define_schema`` and ``execute`` are classmethods the node defines."""

    hidden = None

    @classmethod
    @abstractmethod
    def define_schema(cls) -> Schema:
        raise NotImplementedError

    @classmethod
    @abstractmethod
    def execute(cls, **kwargs) -> NodeOutput:
        raise NotImplementedError

    @classmethod
    def validate_inputs(cls, **kwargs):
        raise NotImplementedError

    @classmethod
    def fingerprint_inputs(cls, **kwargs):
        raise NotImplementedError

    @classmethod
    def GET_SCHEMA(cls) -> Schema:
        for name in ("define_schema", "execute"):
            if getattr(cls, name).__func__ is getattr(ComfyNode, name).__func__:
                raise Exception(f"No {name} function was defined for node class {cls.__name__}.")
        schema = cls.define_schema()
        schema.validate()
        for i, o in enumerate(schema.outputs or []):
            if o.id is None:
                o.id = f"_{i}_{o.io_type}_"
        return schema

    @classmethod
    def INPUT_TYPES(cls, include_hidden=True) -> dict:
        spec = cls.GET_SCHEMA().v1_inputs()
        if not include_hidden:
            spec.pop("hidden", None)
        return spec

    @classmethod
    def PREPARE_CLASS_CLONE(cls, hidden_inputs: dict) -> type:
        clone = type(cls.__name__, (cls,), {})
        clone.hidden = HiddenHolder(hidden_inputs)
        return clone

    @classmethod
    def overrides(cls, name: str) -> bool:
        """Whether the node defines ``validate_inputs`` / ``fingerprint_inputs`` (as ComfyUI asks)."""
        return getattr(cls, name).__func__ is not getattr(ComfyNode, name).__func__

    @_classproperty
    def RETURN_TYPES(cls):
        return tuple(o.io_type for o in cls.GET_SCHEMA().outputs or [])

    @_classproperty
    def RETURN_NAMES(cls):
        return tuple(o.display_name or o.io_type for o in cls.GET_SCHEMA().outputs or [])

    @_classproperty
    def OUTPUT_TOOLTIPS(cls):
        return tuple(o.tooltip for o in cls.GET_SCHEMA().outputs or [])

    @_classproperty
    def DESCRIPTION(cls):
        return cls.GET_SCHEMA().description

    @_classproperty
    def CATEGORY(cls):
        return cls.GET_SCHEMA().category

    @_classproperty
    def OUTPUT_NODE(cls):
        return cls.GET_SCHEMA().is_output_node


class ComfyExtension(ABC):
    async def on_load(self) -> None:  # noqa: B027  (optional hook, as in ComfyUI)
        pass

    @abstractmethod
    async def get_node_list(self) -> list:
        ...


def run_node(cls, *args, unique_id: str | None = None, **kwargs) -> NodeOutput:
    """Run a node as ComfyUI does: its ``validate_inputs`` first (with the inputs it names; a
    string is the error), then ``execute`` on a class clone that carries the hidden inputs."""
    if ComfyNode.overrides.__func__(cls, "validate_inputs"):
        names = list(inspect.signature(cls.execute).parameters)
        given = dict(zip(names, args)) | kwargs
        wanted = inspect.signature(cls.validate_inputs).parameters
        verdict = cls.validate_inputs(**{k: v for k, v in given.items() if k in wanted})
        if verdict is not True:
            raise ValueError(f"validation failed: {verdict}")
    clone = cls.PREPARE_CLASS_CLONE({Hidden.unique_id: unique_id})
    out = clone.execute(*args, **kwargs)
    assert isinstance(out, NodeOutput), f"{cls.__name__}.execute returned {type(out).__name__}, not NodeOutput"
    return out


def _module(name: str, **attrs) -> types.ModuleType:
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    return m


io = _module("comfy_api.latest._io", **{k: v for k, v in dict(globals()).items() if not k.startswith("__")})
v0_0_2 = _module("comfy_api.v0_0_2", io=io, ComfyExtension=ComfyExtension)
comfy_api = _module("comfy_api", v0_0_2=v0_0_2)
comfy_api.__path__ = []
MODULES = {"comfy_api": comfy_api, "comfy_api.v0_0_2": v0_0_2}


def install(modules=sys.modules) -> None:
    """Put the fake ``comfy_api`` into ``modules`` (the same objects every time)."""
    modules.update(MODULES)
