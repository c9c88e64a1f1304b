"""The API reference's reading of the docstrings: Sphinx roles as links, every parameter with its type and default.

A griffe extension, loaded by mkdocstrings (``mkdocs.yml``). The docstrings keep Airflow's Sphinx style
(``:param:``, ``:class:`...```), which mkdocstrings would otherwise show raw; and a class whose ``__init__``
passes ``**kwargs`` on to its base documents parameters that only the base's signature types and defaults.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

PACKAGE = "airflow_ml_provider"
ROLE = re.compile(r":(?:py:)?(?:class|meth|func|data|attr|exc|mod|obj):`(?P<tilde>~?)(?P<target>[^`]+)`")


def _objects(root: griffe.Object) -> list[griffe.Object]:
    """``root`` and everything defined under it (not imported into it)."""
    found = [root]
    for member in root.members.values():
        if not member.is_alias:
            found.extend(_objects(member))
    return found


def _path_of(scope: griffe.Object, target: str) -> str | None:
    """The full path ``target`` names where ``scope``'s docstring is written, or None when it names nothing known."""
    if target.startswith((f"{PACKAGE}.", "airflow.")):
        return target
    head, _, rest = target.partition(".")
    try:
        path = scope.resolve(head)
    except (griffe.NameResolutionError, AttributeError, KeyError, ValueError):
        return None
    return f"{path}.{rest}" if rest else path


def _role_as_link(scope: griffe.Object, match: re.Match[str]) -> str:
    target = match["target"]
    shown = target.rpartition(".")[2] if match["tilde"] else target
    path = _path_of(scope, target)
    if path is None:
        return f"`{shown}`"
    # Optional: a name the site does not document (Airflow's own classes, private helpers) stays plain code.
    return f'<autoref identifier="{path}" optional><code>{shown}</code></autoref>'


def _signature_parameters(cls: griffe.Class) -> dict[str, griffe.Parameter]:
    """The keyword parameters of ``cls.__init__`` and of every base's, the nearest first."""
    found: dict[str, griffe.Parameter] = {}
    try:
        lineage = [cls, *cls.mro()]
    except (griffe.AliasResolutionError, griffe.CyclicAliasError, ValueError):
        lineage = [cls]
    for klass in lineage:
        init = klass.members.get("__init__")
        if init is None or init.is_alias:
            continue
        for parameter in init.parameters:
            if parameter.kind not in (griffe.ParameterKind.var_positional, griffe.ParameterKind.var_keyword):
                found.setdefault(parameter.name, parameter)
    return found


def _complete_parameters(cls: griffe.Class) -> None:
    """Give each documented parameter the type and default of the signature that takes it, inherited or not."""
    if cls.docstring is None:
        return
    sections = cls.docstring.parse("sphinx", warnings=False)
    signature = _signature_parameters(cls)
    fields = {
        name: member for name, member in cls.all_members.items() if isinstance(member, griffe.Attribute)
    }
    for section in sections:
        if section.kind is not griffe.DocstringSectionKind.parameters:
            continue
        for documented in section.value:
            parameter = signature.get(documented.name)
            # A dataclass's fields are its parameters: annotated, with their defaults as values.
            source: Any = parameter or fields.get(documented.name)
            if source is None:
                continue
            if documented.annotation is None:
                documented.annotation = source.annotation
            if documented.value is None:
                documented.value = source.default if parameter is not None else source.value
    cls.docstring.__dict__["parsed"] = sections


class ApiReference(griffe.Extension):
    """Rewrites the provider's docstrings for the API reference once its package is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.name != PACKAGE:
            return
        objects = _objects(pkg)
        for obj in objects:
            if obj.docstring is not None:
                scope = obj
                obj.docstring.value = ROLE.sub(
                    lambda match, scope=scope: _role_as_link(scope, match), obj.docstring.value
                )
        for obj in objects:
            if isinstance(obj, griffe.Class):
                _complete_parameters(obj)
