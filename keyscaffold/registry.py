"""Name -> factory registries (tasks, embodiments) with one way to register and to look up.

A factory is anything that makes an instance with no arguments: a registered class, or a
function that builds an instance from data (a task read from a scene file).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Factories registered by name; an unknown name gets the closest known one suggested."""

    def __init__(self, kind: str, hint: str = "") -> None:
        self.kind, self.hint = kind, hint
        self._factories: dict[str, Callable[[], T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        """Class decorator that registers a class under ``name`` and sets its ``name``."""

        def decorate(cls: type[T]) -> type[T]:
            self.add(name, cls)
            cls.name = name
            return cls

        return decorate

    def add(self, name: str, factory: Callable[[], T], replace: bool = False) -> None:
        """Register ``factory`` (called with no arguments) under ``name``; a name registered
        twice is refused unless ``replace``."""
        if name in self._factories and not replace:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._factories[name] = factory

    def remove(self, name: str) -> None:
        """Forget ``name`` (a task built from data that is no longer wanted)."""
        self._factories.pop(name, None)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._factories)

    def make(self, name: str) -> T:
        """A new instance from the factory of ``name``; raises ``KeyError`` naming the fix."""
        if name not in self._factories:
            close = difflib.get_close_matches(name, self._factories, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise KeyError(
                f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(self.names())}{self.hint}"
            )
        return self._factories[name]()
