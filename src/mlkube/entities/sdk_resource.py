"""Keyword construction with mlkube's errors, for entities users build in Python.

A script ported from Azure ML builds entities with keywords
(``ManagedOnlineEndpoint(name="x!")``) and assigns fields later
(``endpoint.traffic = {"blue": 90}``). Pydantic would raise its own report there; this
base turns it into the same ``ValidationError`` a YAML file gets (field and rule named),
so the CLI prints it as a message and a hint, never a traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pydantic
from pydantic_core import PydanticCustomError

from mlkube.entities.base import Resource, validation_error

if TYPE_CHECKING:
    # Pydantic exports no name for its metaclass; the checker needs to see which it is.
    from pydantic._internal._model_construction import ModelMetaclass as _ModelMeta
else:
    _ModelMeta = type(Resource)


# Pydantic calls a model's own __init__ for nested validation too (losing the validation
# context that resolves paths), so errors are translated one level up, where only a
# direct call `Entity(...)` passes.
class _TranslatingMeta(_ModelMeta):
    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except pydantic.ValidationError as error:
            kind = cls.__name__
            raise validation_error(error, source=f"{kind}(...)", kind=kind) from None


class SdkResource(Resource, metaclass=_TranslatingMeta):
    """A ``Resource`` whose constructor and field assignments raise mlkube's ValidationError."""

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except pydantic.ValidationError as error:
            kind = type(self).__name__
            raise validation_error(error, source=f"{kind}.{name} = ...", kind=kind) from None


def rule_error(rule: str) -> PydanticCustomError:
    """A validator's failure whose message is exactly ``rule`` (no "Value error," prefix).

    The text goes through the error's context, so braces in it are never read as a
    format template.
    """
    return PydanticCustomError("mlkube_rule", "{rule}", {"rule": rule})
