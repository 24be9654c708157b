"""Configurations as data: a TOML file (``--config``) or the ``config`` of a ``results.json``, to dataclasses.

The keys are the fields of :class:`~jaxsep.config.RunConfig`, with the per-trial protocol in a ``[train]`` table
(the fields of :class:`~jaxsep.config.TrainConfig`)::

    models = ["novox", "stems3"]
    trials = 20
    reference_maps = ["mix", "novox", "bass+drums+other"]

    [train]
    epochs = 6
    learning_rate = 1e-4
    filters = [16, 32]

An unknown key or a value of the wrong type is refused with the file and the key named; the dataclasses then
check the values themselves. :func:`merge` lays the options given on a command line over a file's.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any, Mapping

from .config import RunConfig, TrainConfig
from .errors import ConfigError

#: The table of a configuration that holds :class:`TrainConfig`'s fields.
TRAIN = "train"


def _fields(kind: type) -> dict[str, Any]:
    """``{field: type}`` of a dataclass, its string annotations resolved."""
    hints = typing.get_type_hints(kind)
    return {f.name: hints[f.name] for f in dataclasses.fields(kind)}


_WORDS = {bool: ("true or false", "true/false values"), int: ("a whole number", "whole numbers"),
          float: ("a number", "numbers"), str: ("a string", "strings")}


def _describe(kind) -> str:
    """What a type accepts, in words, for an error message."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args if a is not type(None)) + " (or absent)"
    if origin is tuple:
        count = "" if args[-1] is Ellipsis else f"{len(args)} "
        return f"a list of {count}{_WORDS.get(args[0], (None, str(args[0])))[1]}"
    if isinstance(kind, type) and issubclass(kind, Enum):
        return f"one of {[m.value for m in kind]}"
    return _WORDS.get(kind, (str(kind),))[0]


def _convert(value, kind, allow_none: bool):
    """``value`` as a value of ``kind`` (lists to tuples), or raise ValueError."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if value is None:
        if allow_none and (origin in (typing.Union, types.UnionType) and type(None) in args):
            return None
        raise ValueError
    if origin in (typing.Union, types.UnionType):
        return _convert(value, next(a for a in args if a is not type(None)), allow_none)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError
        items = args[:1] * len(value) if args[-1] is Ellipsis else args
        if len(items) != len(value):
            raise ValueError
        return tuple(_convert(v, k, allow_none) for v, k in zip(value, items))
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError
        return float(value)
    if kind is str or (isinstance(kind, type) and issubclass(kind, str)):
        if not isinstance(value, str):
            raise ValueError
        return value  # an Enum's choice is checked by the dataclass, naming the choices
    raise ValueError


def fields_from(data: Mapping[str, Any], where: str, *, allow_none: bool = False) -> dict[str, Any]:
    """The checked values of ``data`` as ``{RunConfig field: value}``, the ``train`` table as
    ``{TrainConfig field: value}`` under ``"train"``.

    Args:
      data: the parsed mapping.
      where: the file (or run folder) to name in errors.
      allow_none: accept ``null`` for optional fields (``results.json``; TOML has no null).

    Raises:
      ConfigError: ``"<where>: unknown key 'x'..."`` or ``"<where>: 'x' must be ..., got ..."``.
    """
    run_fields, train_fields = _fields(RunConfig), _fields(TrainConfig)
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == TRAIN:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: '{TRAIN}' must be a table of {sorted(train_fields)}")
            out[TRAIN] = _checked(value, train_fields, where, f"{TRAIN}.", allow_none)
        elif key in run_fields:
            out |= _checked({key: value}, run_fields, where, "", allow_none)
        else:
            raise ConfigError(f"{where}: unknown key {key!r}; keys are {sorted(set(run_fields) - {TRAIN})} and a "
                              f"[{TRAIN}] table of {sorted(train_fields)}")
    return out


def _checked(data: Mapping[str, Any], kinds: dict[str, Any], where: str, prefix: str, allow_none: bool) -> dict:
    out = {}
    for key, value in data.items():
        if key not in kinds:
            raise ConfigError(f"{where}: unknown key '{prefix}{key}'; keys are {sorted(kinds)}")
        try:
            out[key] = _convert(value, kinds[key], allow_none)
        except (ValueError, StopIteration):
            raise ConfigError(f"{where}: '{prefix}{key}' must be {_describe(kinds[key])}, got {value!r}") from None
    return out


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A TOML configuration file's checked fields (see :func:`fields_from`); their ranges are checked once merged
    with the command line (:func:`merge`), since an option given there may make a value valid.

    Raises:
      ConfigError: a file that is missing, not TOML, or holds an unknown key or a value of the wrong type.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror or error})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not a TOML file ({error})") from None
    return fields_from(data, str(path))


def merge(base: RunConfig, file_fields: Mapping[str, Any], given: set[str]) -> RunConfig:
    """``base`` (the command line's configuration, defaults included) with a file's fields laid under the options
    ``given`` explicitly: a field named in ``given`` keeps ``base``'s value, any other takes the file's.

    Raises:
      ConfigError: the merged values out of range (the dataclasses' own checks).
    """
    run = {k: v for k, v in file_fields.items() if k != TRAIN and k not in given}
    train = {k: v for k, v in file_fields.get(TRAIN, {}).items() if k not in given}
    return dataclasses.replace(base, **run, train=dataclasses.replace(base.train, **train))


def config_from_results(config: Mapping[str, Any], where: str) -> RunConfig:
    """The :class:`RunConfig` a run recorded in its ``results.json`` (``config``), for ``jaxsep rerun``.

    Raises:
      ConfigError: a recorded configuration this jaxsep cannot rebuild.
    """
    recorded = {k: v for k, v in config.items() if k in {f.name for f in dataclasses.fields(RunConfig)}}
    fields = fields_from(recorded, where, allow_none=True)
    return RunConfig(**{k: v for k, v in fields.items() if k != TRAIN}, train=TrainConfig(**fields.get(TRAIN, {})))
