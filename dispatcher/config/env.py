"""``${NAME}`` / ``${NAME:-default}`` in config values, with secrets kept in secret fields.

A variable is a secret when a secret field uses it (a channel's password, token or
key; the database URL), when its name says so (``*_SECRET``, ``*PASSWORD*``,
``*TOKEN*``, ``*_KEY``, ...), or when it is one of the dispatcher's own
(``DISPATCHER_SECRET``, ...). A secret may be substituted only into secret fields:
anywhere else (``shop.name``, a campaign's ``description``, a Telegram reply: text
that is rendered into messages or served) it is an error and the value is never
read into the config. Error messages never echo a substituted value (``redact``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

from pydantic import SecretStr

from dispatcher.config.errors import ConfigIssue
from dispatcher.config.source import LocatedDocument, PathKey

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_NAME = re.compile(r"SECRET|PASSW|PASSPHRASE|TOKEN|PRIVATE|CREDENTIAL|API_?KEY|"
                          r"(?:^|_)KEY(?:$|_)|(?:^|_)DSN$|DATABASE_URL", re.IGNORECASE)
OWN_SECRETS = frozenset({"DISPATCHER_SECRET", "DISPATCHER_BOUNCE_SECRET",
                         "DISPATCHER_EVENTS_TOKEN", "DISPATCHER_DATABASE_URL"})


def secret_fields() -> frozenset[PathKey]:
    """Config paths that may hold a secret: every SecretStr setting of every channel,
    and the database URL (it carries the database password)."""
    from channels.registry import SPECS

    paths: set[PathKey] = {("database",), ("database", "url")}
    for channel, spec in SPECS.items():
        for name, info in spec.settings.model_fields.items():
            if "SecretStr" in str(info.annotation) or info.annotation is SecretStr:
                paths.add(("channels", channel, info.alias or name))
    return frozenset(paths)


class EnvResolver:
    """Substitutes the references one file recorded (``doc.env_refs``) into its data."""

    def __init__(self, main_refs: dict[PathKey, str]) -> None:
        self.sinks = secret_fields()
        self.secret_names = set(OWN_SECRETS)
        for path, text in main_refs.items():
            if path in self.sinks:
                self.secret_names.update(m.group(1) for m in ENV_REF.finditer(text))

    def is_secret(self, name: str) -> bool:
        return name in self.secret_names or bool(_SECRET_NAME.search(name))

    def apply(self, data: Any, doc: LocatedDocument, refs: Iterable[PathKey],
              issues: list[ConfigIssue]) -> None:
        for path in refs:
            text = doc.env_refs[path]
            value = self._substitute(text, path, doc, issues)
            _assign(data, path, value)
            if value and value != text:
                doc.substituted.append((value, text))

    def _substitute(self, text: str, path: PathKey, doc: LocatedDocument,
                    issues: list[ConfigIssue]) -> str:
        dotted = ".".join(map(str, path))
        into_secret_field = path in self.sinks

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if not into_secret_field and self.is_secret(name):
                issues.append(doc.claim(ConfigIssue(
                    doc.locate(path), dotted,
                    f"${{{name}}} is a secret; secrets may only be used in password, "
                    f"token and key fields of channels and in the database URL, never in "
                    f"text that is rendered or served")))
                return ""
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            issues.append(ConfigIssue(doc.locate(path), dotted,
                                      f"environment variable {name} is not set"))
            return ""

        return ENV_REF.sub(replace, text)


def _assign(data: Any, path: PathKey, value: str) -> None:
    if not path:
        return  # a document that is one string: refused as "must be a mapping"
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


def redact(issues: list[ConfigIssue], doc: LocatedDocument) -> list[ConfigIssue]:
    """The issues with every value that came from the environment shown as written
    (``${SMTP_PASSWORD}``), never as its value."""
    if not doc.substituted:
        return issues
    out = []
    for issue in issues:
        message = issue.message
        for value, text in doc.substituted:
            message = message.replace(repr(value), repr(text))
            if len(value) >= 4:
                message = message.replace(value, text)
        out.append(issue if message == issue.message else
                   ConfigIssue(issue.location, issue.path, message, issue.severity))
    return out
