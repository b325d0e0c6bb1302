"""Versioned prompt templates (``string.Template``, ``$name`` fields), our own wording.

A template never changes once released: a new wording gets a new version, so a plan's provenance
(``prompt_version``) always names the exact text that produced it.
"""

from __future__ import annotations

from importlib import resources
from string import Template

PROMPT_VERSION = "v2"
"""The default version; ``v1`` stays selectable (``--prompt-version v1``)."""
PROMPT_VERSIONS = ("v1", "v2")


def load_template(stage: str, version: str = PROMPT_VERSION) -> Template:
    """The template of a planning stage (``keypoints`` or ``trajectory``)."""
    name = f"{stage}_{version}.txt"
    path = resources.files(__package__).joinpath(name)
    if not path.is_file():
        raise FileNotFoundError(f"no prompt template {name} in keyscaffold/planning/prompts")
    return Template(path.read_text(encoding="utf-8"))
