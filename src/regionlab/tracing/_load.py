"""Loading models from files or factories (used by the command line).

Three kinds of model specification are understood:

* a TorchScript archive (``torch.jit.save``): rebuilt into ordinary modules when it is a
  tree of ``nn.Sequential`` containers and layers regionlab knows;
* a ``torch.export`` archive (``.pt2``, ``torch.export.save``): its graph module;
* ``package.module:factory``: the factory is imported and called without arguments.

``weights`` (a ``torch.save``-d state dict) are loaded with ``weights_only=True``:
no arbitrary Python object is ever unpickled.
"""

from __future__ import annotations

import importlib
import inspect
import os
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import ModelLoadError, UnsupportedOperationError

__all__ = ["load_model", "rebuild_scripted"]


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _archive_kind(path: Path) -> str:
    if not zipfile.is_zipfile(path):
        return "unknown"
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return "unknown"
    if any(n.endswith("/archive_format") or "/models/" in n or n.endswith("serialized_exported_program.json")
           for n in names):
        return "export"
    if any("/code/" in n for n in names) and any(n.endswith("/constants.pkl") or n.endswith("/data.pkl") for n in names):
        return "torchscript"
    if any(n.endswith("/data.pkl") for n in names):
        return "weights"
    return "unknown"


def load_model(spec, weights=None) -> nn.Module:
    """Load a model from a file or a factory, ready for :func:`regionlab.trace`.

    Parameters
    ----------
    spec : str or path-like
        A TorchScript file (``torch.jit.save``; only trees of ``nn.Sequential`` and
        layers with a lowering rule are supported), a ``torch.export`` file (``.pt2``,
        ``torch.export.save``), or ``"package.module:factory"`` naming a callable that
        returns an ``nn.Module`` when called without arguments.
    weights : str or path-like, optional
        A state dict saved with ``torch.save(model.state_dict(), path)`` (or a checkpoint
        dict holding it under ``"state_dict"`` / ``"model_state_dict"``), loaded with
        ``weights_only=True`` and strict key and shape checks.

    Returns
    -------
    nn.Module
        In eval mode (``torch.export`` graphs keep the mode they were exported in).

    Raises
    ------
    ModelLoadError
        Missing or unreadable files, malformed specs, factories that fail or do not
        return a module, weights that do not match the model.
    UnsupportedOperationError
        A TorchScript model whose structure cannot be rebuilt (export it with
        ``torch.export`` instead).

    Examples
    --------
    >>> import os, tempfile, torch
    >>> from regionlab.tracing import load_model, trace
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU()).eval()
    >>> path = os.path.join(tempfile.mkdtemp(), "model.pt2")
    >>> torch.export.save(torch.export.export(model, (torch.zeros(1, 2),)), path)
    >>> loaded = load_model(path)
    >>> trace(loaded, torch.zeros(1, 2)).num_units
    3
    >>> load_model("torch.nn:ReLU")  # package.module:factory, called without arguments
    ReLU()
    """
    if not isinstance(spec, (str, os.PathLike)) or not str(spec).strip():
        raise ModelLoadError(
            f"The model spec must be a file path or 'package.module:factory'. Got {spec!r} instead."
        )
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_dir():
        raise ModelLoadError(f"The model spec {text!r} is a directory; give a TorchScript or .pt2 file.")
    if path.is_file():
        model = _load_file(path)
    elif ":" in text and not text.endswith((".pt", ".pt2", ".pth", ".ts")):
        model = _load_factory(text)
    else:
        raise ModelLoadError(
            f"No such model file: {text!r}. Give a TorchScript file, a torch.export .pt2 file, or "
            "'package.module:factory'."
        )
    if weights is not None:
        _load_weights(model, weights)
    if not isinstance(model, torch.fx.GraphModule):
        model.eval()
    return model


def _load_file(path: Path) -> nn.Module:
    kind = "export" if path.suffix == ".pt2" else _archive_kind(path)
    if kind == "export":
        try:
            with warnings.catch_warnings():
                # torch.export's own deserializer trips torch's pytree deprecation warnings
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                ep = torch.export.load(str(path))
                return ep.module()
        except Exception as e:  # noqa: BLE001 - any deserialization failure
            raise ModelLoadError(f"Cannot load the torch.export file {str(path)!r}: {_one_line(e)}.") from None
    if kind == "torchscript":
        try:
            with warnings.catch_warnings():
                # TorchScript is deprecated in recent torch, but loading it is what was asked
                warnings.simplefilter("ignore", DeprecationWarning)
                scripted = torch.jit.load(str(path), map_location="cpu")
        except Exception as e:  # noqa: BLE001
            raise ModelLoadError(f"Cannot load the TorchScript file {str(path)!r}: {_one_line(e)}.") from None
        return rebuild_scripted(scripted)
    if kind == "weights":
        raise ModelLoadError(
            f"{str(path)!r} is a torch.save archive (a state dict or a pickled model), which regionlab "
            "never unpickles as a model. Give the model as 'package.module:factory' and, if this file "
            "holds its state dict, pass it as the weights."
        )
    raise ModelLoadError(
        f"{str(path)!r} is neither a TorchScript archive (torch.jit.save) nor a torch.export "
        "archive (torch.export.save)."
    )


def _load_factory(text: str) -> nn.Module:
    module_name, _, attr = text.rpartition(":")
    if not module_name or not attr or not all(p.isidentifier() for p in module_name.split(".") + attr.split(".")):
        raise ModelLoadError(f"Malformed model spec {text!r}; expected 'package.module:factory'.")
    try:
        mod = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - import-time failures of user code
        raise ModelLoadError(f"Cannot import {module_name!r} for model spec {text!r}: {_one_line(e)}.") from None
    obj = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ModelLoadError(f"Module {module_name!r} has no attribute {attr!r} (model spec {text!r}).")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ModelLoadError(f"{text!r} is not callable; it must name a function or class returning an nn.Module.")
    try:
        model = obj()
    except Exception as e:  # noqa: BLE001 - the user's factory
        raise ModelLoadError(f"Calling the model factory {text!r} failed: {_one_line(e)}.") from None
    if not isinstance(model, nn.Module):
        raise ModelLoadError(f"The model factory {text!r} returned {type(model).__name__}, not an nn.Module.")
    return model


def _load_weights(model: nn.Module, weights) -> None:
    if not isinstance(weights, (str, os.PathLike)):
        raise ModelLoadError(f"The weights must be a file path. Got {weights!r} instead.")
    path = Path(weights).expanduser()
    if not path.is_file():
        raise ModelLoadError(f"No such weights file: {str(weights)!r}.")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch.load raises many types
        raise ModelLoadError(
            f"Cannot load weights from {str(path)!r} with weights_only=True (a plain tensor state dict is "
            f"needed): {_one_line(e)}."
        ) from None
    if isinstance(state, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ModelLoadError(f"{str(path)!r} does not hold a state dict (a mapping of names to tensors).")
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k}: {tuple(state[k].shape)} in file vs {tuple(v.shape)} in model"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("mismatched", mismatched)):
        if items:
            shown = ", ".join(items[:3]) + (", ..." if len(items) > 3 else "")
            problems.append(f"{len(items)} {label} ({shown})")
    if problems:
        raise ModelLoadError(f"The weights in {str(path)!r} do not match the model: {'; '.join(problems)}.")
    try:
        model.load_state_dict(state, strict=True)
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(f"Cannot load the weights in {str(path)!r} into the model: {_one_line(e)}.") from None


# ----------------------------------------------------------------------- TorchScript


def _known_modules() -> dict[str, type]:
    from ._registry import _MODULES

    known: dict[str, type] = {}
    for cls in _MODULES:
        # torch.nn classes win name clashes with user classes
        if cls.__name__ not in known or cls.__module__.startswith("torch.nn"):
            known[cls.__name__] = cls
    return known


def _unsupported_script(name: str, path: str, why: str) -> UnsupportedOperationError:
    where = f"'{path}'" if path else "the top level"
    return UnsupportedOperationError(
        f"Cannot rebuild the TorchScript module {name} at {where}: {why}. Only Sequential-style "
        "TorchScript models (nn.Sequential trees of layers regionlab knows) are supported; export "
        "the model with torch.export.export(model, (example,)) and torch.export.save(...) to a .pt2 "
        "file instead.",
        op=name,
        where=path,
    )


def rebuild_scripted(scripted, path: str = "") -> nn.Module:
    """Rebuild a TorchScript module made of ``nn.Sequential`` and known layers as plain modules.

    Parameters
    ----------
    scripted : torch.jit.ScriptModule
        The loaded (or scripted) module.
    path : str
        Module path used in error messages.

    Returns
    -------
    nn.Module
        Equivalent ordinary modules sharing the same parameter values, in the same
        training mode.

    Raises
    ------
    UnsupportedOperationError
        A submodule is a custom (non-Sequential) container or an unknown layer.

    Examples
    --------
    >>> import torch, warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated in recent torch
    ...     scripted = torch.jit.script(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU()))
    >>> rebuild_scripted(scripted)
    Sequential(
      (0): Linear(in_features=2, out_features=2, bias=True)
      (1): ReLU()
    )
    """
    name = getattr(scripted, "original_name", type(scripted).__name__)
    if name == "Sequential":
        children = OrderedDict(
            (child, rebuild_scripted(m, f"{path}.{child}" if path else child))
            for child, m in scripted.named_children()
        )
        seq = nn.Sequential(children)
        seq.train(scripted.training)
        return seq
    cls = _known_modules().get(name)
    if cls is None:
        why = "its forward is custom code" if any(True for _ in scripted.named_children()) else "it is not a known layer"
        raise _unsupported_script(name, path, why)
    kwargs = {}
    try:
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    except (TypeError, ValueError):
        params = []
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in ("device", "dtype"):
            continue
        if hasattr(scripted, p.name):
            value = getattr(scripted, p.name)
            if p.name == "bias" and (value is None or isinstance(value, Tensor)):
                value = value is not None
            kwargs[p.name] = value
        elif p.default is inspect.Parameter.empty:
            raise _unsupported_script(name, path, f"its constructor argument '{p.name}' is not recorded")
    try:
        module = cls(**kwargs)
        module.load_state_dict(dict(scripted.state_dict()), strict=True, assign=True)
    except Exception as e:  # noqa: BLE001 - constructor/state mismatches of unusual modules
        raise _unsupported_script(name, path, f"rebuilding it failed ({_one_line(e)})") from None
    module.train(scripted.training)
    return module
