"""The errors the iteration's steps raise on purpose, under the names Step Functions shows.

The Lambda runtime reports ``type(exc).__name__`` as the ``errorType`` and Step Functions uses
that as the error name (the ASL's ``Catch`` and the audit record's ``failure.error``), so the
classes are renamed to dotted ``Textloop.<Name>`` names after definition.
"""

from __future__ import annotations


class TextloopError(Exception):
    """Base of the errors the iteration's steps raise on purpose."""


def _named(name: str):
    def rename(cls: type) -> type:
        cls.__name__ = name
        cls.__qualname__ = name
        return cls

    return rename


@_named("Textloop.InvalidIterationInput")
class InvalidIterationInput(TextloopError):
    """The execution input or the deployment's ITERATION_DEFAULTS break the input schema."""


@_named("Textloop.DatasetInvalid")
class DatasetInvalid(TextloopError):
    """The data set breaks a Comprehend rule; the message and the stored report list every one."""


@_named("Textloop.EvaluationUnsupported")
class EvaluationUnsupported(TextloopError):
    """The candidate comes from a training back-end whose predictions cannot be obtained."""


@_named("Textloop.ReviewInputTooLarge")
class ReviewInputTooLarge(TextloopError):
    """A review batch does not fit A2I's InputContent limit."""
