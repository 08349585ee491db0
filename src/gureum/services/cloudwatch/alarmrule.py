"""Composite alarm rules: ``ALARM(name)``, ``OK(name)``,
``INSUFFICIENT_DATA(name)``, ``TRUE``, ``FALSE``, combined with ``AND``,
``OR``, ``NOT`` and parentheses (NOT binds tightest, then AND, then OR).

An alarm is named by its name or its ARN, optionally in double quotes.

    rule = parse('ALARM("cpu-high") AND NOT OK(mem)')
    rule.evaluate({"cpu-high": "ALARM", "mem": "ALARM"})  # True
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

STATE_FUNCTIONS = ("ALARM", "OK", "INSUFFICIENT_DATA")
MAX_LENGTH = 10240
TOKEN = re.compile(r'\s*(?:(?P<paren>[()])|"(?P<quoted>(?:[^"\\]|\\.)*)"'
                   r"|(?P<word>[^\s()\"]+))")


class RuleError(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    """A parsed rule: a predicate over alarm states, and the alarms it names."""

    text: str
    children: tuple[str, ...]
    _test: Callable[[Mapping[str, str]], bool]

    def evaluate(self, states: Mapping[str, str]) -> bool:
        return self._test(states)


def alarm_name(ref: str) -> str:
    """An alarm's name from its name or its ARN (arn:aws:cloudwatch:R:A:alarm:NAME)."""
    if ref.startswith("arn:"):
        parts = ref.split(":", 6)
        if len(parts) == 7 and parts[2] == "cloudwatch" and parts[5] == "alarm":
            return parts[6]
    return ref


def tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = TOKEN.match(text, pos)
        if m is None:
            raise RuleError(f"Unexpected character at position {pos}")
        pos = m.end()
        if m.group("paren"):
            out.append(("paren", m.group("paren")))
        elif m.group("quoted") is not None:
            out.append(("name", m.group("quoted").replace('\\"', '"')))
        else:
            out.append(("word", m.group("word")))
    return out


def parse(text: str) -> Rule:
    if not text.strip():
        raise RuleError("The alarm rule must not be empty")
    if len(text) > MAX_LENGTH:
        raise RuleError(f"The alarm rule must be at most {MAX_LENGTH} characters")
    toks = tokens(text)
    children: list[str] = []
    pos = 0

    def peek() -> tuple[str, str] | None:
        return toks[pos] if pos < len(toks) else None

    def take() -> tuple[str, str]:
        nonlocal pos
        if pos >= len(toks):
            raise RuleError("Unexpected end of the alarm rule")
        pos += 1
        return toks[pos - 1]

    def expect(value: str) -> None:
        tok = take()
        if tok != ("paren", value):
            raise RuleError(f"Expected '{value}' but found '{tok[1]}'")

    def is_word(tok: tuple[str, str] | None, word: str) -> bool:
        return tok is not None and tok[0] == "word" and tok[1].upper() == word

    Pred = Callable[[Mapping[str, str]], bool]

    def disjunction() -> Pred:
        parts = [conjunction()]
        while is_word(peek(), "OR"):
            take()
            parts.append(conjunction())
        return parts[0] if len(parts) == 1 else (lambda s: any(p(s) for p in parts))

    def conjunction() -> Pred:
        parts = [negation()]
        while is_word(peek(), "AND"):
            take()
            parts.append(negation())
        return parts[0] if len(parts) == 1 else (lambda s: all(p(s) for p in parts))

    def negation() -> Pred:
        if is_word(peek(), "NOT"):
            take()
            inner = negation()
            return lambda s: not inner(s)
        return atom()

    def atom() -> Pred:
        tok = take()
        if tok == ("paren", "("):
            inner = disjunction()
            expect(")")
            return inner
        if tok[0] == "word" and tok[1].upper() in ("TRUE", "FALSE"):
            value = tok[1].upper() == "TRUE"
            return lambda s: value
        if tok[0] == "word" and tok[1] in STATE_FUNCTIONS:
            state = tok[1]
            expect("(")
            ref = take()
            if ref[0] == "paren":
                raise RuleError(f"Expected an alarm name in {state}()")
            expect(")")
            name = alarm_name(ref[1])
            children.append(name)
            return lambda s: s.get(name) == state
        raise RuleError(f"Unexpected '{tok[1]}' in the alarm rule")

    test = disjunction()
    if pos != len(toks):
        raise RuleError(f"Unexpected '{toks[pos][1]}' in the alarm rule")
    return Rule(text, tuple(dict.fromkeys(children)), test)
