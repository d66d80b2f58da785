"""Name -> class registries (trainers, datasets, evaluators), as in Dassl/fvcore."""
from __future__ import annotations

import difflib
from typing import Callable, Optional


class Registry:
    """Maps names to classes; ``@REGISTRY.register()`` adds the decorated class under its name.

    ``discover`` (optional) is called before the first look-up so that plug-in folders are imported
    lazily: registering is all a user has to do.
    """

    def __init__(self, name: str, discover: Optional[Callable[[], None]] = None):
        self._name = name
        self._obj_map: dict[str, object] = {}
        self._discover = discover

    @property
    def name(self) -> str:
        return self._name

    def _do_register(self, name: str, obj: object, force: bool = False) -> None:
        if name in self._obj_map and not force and self._obj_map[name] is not obj:
            raise KeyError(
                f'An object named "{name}" was already registered in the "{self._name}" registry '
                f"(registered: {self.registered_names()}). Pick another name or pass force=True."
            )
        self._obj_map[name] = obj

    def register(self, obj=None, force: bool = False):
        if obj is None:
            def deco(func_or_class):
                self._do_register(func_or_class.__name__, func_or_class, force=force)
                return func_or_class
            return deco
        self._do_register(obj.__name__, obj, force=force)
        return obj

    def _ensure_discovered(self) -> None:
        if self._discover is not None:
            discover, self._discover = self._discover, None
            discover()

    def get(self, name: str):
        self._ensure_discovered()
        if name not in self._obj_map:
            names = self.registered_names()
            # Case-insensitive closeness: "Coop" should suggest "CoOp", not "CoCoOp".
            lowered = {n.lower(): n for n in names}
            close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.0)
            hint = f' Do you mean "{lowered[close[0]]}"?' if close else ""
            raise KeyError(
                f'"{name}" is not registered in the "{self._name}" registry. '
                f"Registered names: {names}.{hint}"
            )
        return self._obj_map[name]

    def registered_names(self) -> list[str]:
        self._ensure_discovered()
        return sorted(self._obj_map)

    def __contains__(self, name: str) -> bool:
        self._ensure_discovered()
        return name in self._obj_map
