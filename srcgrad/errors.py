"""Errors raised by srcgrad, each pointing at the user's source line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Loc:
    """A position in the user's source: file, 1-based line, 0-based column, the line's text."""

    file: str = "<unknown>"
    line: int = 0
    col: int = 0
    text: str = ""

    def describe(self) -> str:
        where = f'File "{self.file}", line {self.line}'
        if not self.text:
            return where
        caret = " " * (self.col + 4) + "^"
        return f"{where}\n    {self.text}\n{caret}"


class SrcgradError(Exception):
    """Base class: a message plus, where known, the source location it is about."""

    def __init__(self, message: str, loc: Loc | None = None, construct: str | None = None):
        self.message = message
        self.loc = loc
        self.construct = construct
        super().__init__(self._render())

    def _render(self) -> str:
        text = self.message
        if self.construct:
            text = f"{self.construct}: {text}"
        if self.loc is not None:
            text = f"{text}\n{self.loc.describe()}"
        return text


class SourceUnavailableError(SrcgradError):
    """The function's source cannot be read (REPL lambda, builtin, C extension)."""


class UnsupportedSyntaxError(SrcgradError):
    """A Python construct the compiler refuses to differentiate."""


class UnknownCalleeError(SrcgradError):
    """A call to a function that has neither a derivative rule nor readable source."""


class NonDifferentiableError(SrcgradError):
    """A derivative was requested through something that has none (an int, a rule without vjp)."""


class UnsupportedDerivativeError(NonDifferentiableError, NotImplementedError):
    """A rule met an option it has no derivative for (``np.linalg.norm(x, ord=inf)``),
    found only when the gradient runs: raised then, instead of a wrong gradient."""


class AliasingError(SrcgradError):
    """An in-place store whose aliasing the compiler cannot resolve."""


class WrtError(SrcgradError):
    """A bad `wrt` specification or a non-float argument selected for differentiation."""


class EvaluationError(SrcgradError):
    """An operation of the differentiated function itself failed while its derivative ran
    (shapes that do not broadcast, a None where a number is needed...): located at the
    user's line, with the original exception chained as ``__cause__``."""


class InternalError(SrcgradError):
    """A bug in srcgrad: an exception that is not a SrcgradError, raised inside a pass of
    the pipeline; the message names the pass and the original is chained as ``__cause__``."""
