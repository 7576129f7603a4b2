"""Where golden traces live: a local folder or an S3 location (``s3://bucket/prefix``).

A location written as ``s3://bucket/prefix`` is on an S3-compatible object store
(``docs/object-store.md``). The endpoint, region and credentials come from the
standard AWS settings: the environment variables (``AWS_ENDPOINT_URL_S3``,
``AWS_ENDPOINT_URL``, ``AWS_REGION``, ``AWS_DEFAULT_REGION``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_PROFILE``) and the shared
files (``~/.aws/credentials``, ``~/.aws/config``, or ``AWS_SHARED_CREDENTIALS_FILE``
and ``AWS_CONFIG_FILE``); the tracer's ``trace.s3_endpoint_url`` and
``trace.s3_region`` take precedence for the tracer. Secrets never appear in a message
or a ``repr``.

Standard library only at import: the tracer resolves its location with it, and
pyarrow is imported inside the functions that build a file system.
"""

from __future__ import annotations

import configparser
import contextlib
import dataclasses
import functools
import os
import re
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Final

from tracekit.errors import ConfigError, InputError
from tracekit.fileio import open_regular

SCHEME: Final = "s3://"
DEFAULT_REGION: Final = "us-east-1"
CONNECT_TIMEOUT_S: Final = 2.0
"""Seconds to wait for a connection to the object store."""
REQUEST_TIMEOUT_S: Final = 10.0
"""Seconds to wait for one request's answer (where the SDK honours it)."""
READER_ATTEMPTS: Final = 3
"""Attempts of the AWS SDK for each request of a reader (the writer retries itself)."""

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


def is_object_url(text: str) -> bool:
    """Whether ``text`` names a location on an object store (``s3://...``)."""
    return text.startswith(SCHEME)


def has_foreign_scheme(text: str) -> bool:
    """Whether ``text`` looks like a URL of a store tracekit does not read (``gs://``)."""
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.isalnum() and not is_object_url(text)


def as_s3_url(text: str) -> str | None:
    """The ``s3://`` URL of a Hadoop S3 URL (``s3a://b/k``, ``s3n://b/k``: the same
    objects), else None."""
    scheme, sep, rest = text.partition("://")
    return f"{SCHEME}{rest}" if sep and scheme.lower() in ("s3a", "s3n") else None


@dataclasses.dataclass(frozen=True)
class ObjectUrl:
    """An ``s3://bucket/key`` location; ``key`` has no leading or trailing slash."""

    bucket: str
    key: str

    @property
    def path(self) -> str:
        """``bucket/key``, the form pyarrow's S3 file system takes."""
        return f"{self.bucket}/{self.key}" if self.key else self.bucket

    def __str__(self) -> str:
        return f"{SCHEME}{self.path}"

    def child(self, name: str) -> ObjectUrl:
        """The location ``name`` below this one."""
        return ObjectUrl(self.bucket, f"{self.key}/{name}" if self.key else name)


def parse_object_url(text: str) -> ObjectUrl:
    """Split ``s3://bucket/prefix`` into bucket and key.

    Raises:
        InputError: Not an ``s3://`` URL, a bucket name S3 does not allow, or an
            empty or ``.``/``..`` part in the key.
    """
    if not is_object_url(text):
        raise InputError(f"{text}: not an s3:// location; write it as s3://bucket/prefix")
    bucket, _, key = text[len(SCHEME) :].partition("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise InputError(
            f"{text}: {bucket!r} is not a valid bucket name (3-63 lowercase letters, digits, "
            "'.' or '-'); write the location as s3://bucket/prefix"
        )
    key = key.rstrip("/")
    parts = key.split("/") if key else []
    if any(part in ("", ".", "..") for part in parts):
        raise InputError(
            f"{text}: the prefix has an empty, '.' or '..' part; write it as s3://bucket/a/b"
        )
    return ObjectUrl(bucket, key)


# -- settings ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StoreSettings:
    """How to reach the object store. The credentials are left out of ``repr``.

    Attributes:
        endpoint_url: ``http(s)://host[:port]`` of an S3-compatible server; None is AWS.
        region: The region requests are signed for.
        access_key: Access key id, or None to let the AWS SDK find credentials
            (instance roles, SSO) by itself.
        secret_key: The secret access key.
        session_token: A session token of temporary credentials.
    """

    endpoint_url: str | None = None
    region: str = DEFAULT_REGION
    access_key: str | None = dataclasses.field(default=None, repr=False)
    secret_key: str | None = dataclasses.field(default=None, repr=False)
    session_token: str | None = dataclasses.field(default=None, repr=False)

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values that must never be shown."""
        return tuple(v for v in (self.access_key, self.secret_key, self.session_token) if v)


def check_endpoint_url(value: str) -> bool:
    """Whether ``value`` is an endpoint URL: ``http(s)://host[:port]`` and nothing more."""
    try:
        parsed = urllib.parse.urlsplit(value)
        parsed.port  # noqa: B018  # raises ValueError on a bad port
    except ValueError:
        return False
    return (
        parsed.scheme in ("http", "https")
        and bool(parsed.hostname)
        and parsed.path in ("", "/")
        and not parsed.query
        and not parsed.fragment
        and parsed.username is None
    )


def check_region(value: str) -> bool:
    """Whether ``value`` looks like a region name (``us-east-1``, ``eu-west-3``)."""
    return bool(_REGION.fullmatch(value))


def resolve_settings(
    endpoint_url: str | None = None,
    region: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> StoreSettings:
    """The store settings from the arguments, then the AWS variables, then the files.

    Raises:
        ConfigError: An endpoint or region is malformed, or a shared AWS file cannot
            be parsed (named, its content never shown).
    """
    env = os.environ if environ is None else environ
    profile = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or "default"
    config = _profile_section(
        env.get("AWS_CONFIG_FILE") or "~/.aws/config",
        "default" if profile == "default" else f"profile {profile}",
    )
    credentials = _profile_section(
        env.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials", profile
    )
    endpoint = (
        endpoint_url
        or env.get("AWS_ENDPOINT_URL_S3")
        or env.get("AWS_ENDPOINT_URL")
        or config.get("endpoint_url")
        or None
    )
    if endpoint is not None and not check_endpoint_url(endpoint):
        raise ConfigError(
            f"object store endpoint {endpoint!r} is not http(s)://host[:port]; "
            "fix AWS_ENDPOINT_URL (or trace.s3_endpoint_url)"
        )
    chosen_region = (
        region
        or env.get("AWS_REGION")
        or env.get("AWS_DEFAULT_REGION")
        or config.get("region")
        or DEFAULT_REGION
    )
    if not check_region(chosen_region):
        raise ConfigError(
            f"object store region {chosen_region!r} is not a region name such as us-east-1; "
            "fix AWS_REGION (or trace.s3_region)"
        )
    access = env.get("AWS_ACCESS_KEY_ID")
    secret = env.get("AWS_SECRET_ACCESS_KEY")
    token = env.get("AWS_SESSION_TOKEN")
    if not (access and secret):
        for source in (credentials, config):
            if source.get("aws_access_key_id") and source.get("aws_secret_access_key"):
                access = source["aws_access_key_id"]
                secret = source["aws_secret_access_key"]
                token = source.get("aws_session_token")
                break
        else:
            access = secret = token = None
    return StoreSettings(
        endpoint.rstrip("/") if endpoint else None, chosen_region, access, secret, token
    )


def _profile_section(file: str, section: str) -> dict[str, str]:
    path = Path(file).expanduser()
    if not path.is_file():
        return {}
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        raise ConfigError(
            f"{path}: cannot be parsed as an AWS settings file; fix it or point "
            "AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE elsewhere"
        ) from None
    return dict(parser[section]) if parser.has_section(section) else {}


# -- file systems -----------------------------------------------------------------------


def s3_filesystem(settings: StoreSettings, *, writer: bool = False) -> Any:
    """A ``pyarrow.fs.S3FileSystem`` for ``settings``.

    The writer's makes one attempt per request, writes in the foreground and
    sends a small object as one PutObject (the golden writer retries a whole
    object itself, with its own bounded backoff);
    a reader's lets the AWS SDK retry each request a few times.
    """
    import pyarrow.fs as pafs

    scheme = "https"
    endpoint = None
    if settings.endpoint_url is not None:
        parsed = urllib.parse.urlsplit(settings.endpoint_url)
        scheme = parsed.scheme
        endpoint = parsed.netloc
    return pafs.S3FileSystem(
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        session_token=settings.session_token,
        region=settings.region,
        scheme=scheme,
        endpoint_override=endpoint,
        connect_timeout=CONNECT_TIMEOUT_S,
        request_timeout=REQUEST_TIMEOUT_S,
        background_writes=not writer,
        # Opened late, a small object is one PutObject, not a multipart upload begun
        # at open: one request per window, nothing to abort.
        allow_delayed_open=writer,
        retry_strategy=pafs.AwsStandardS3RetryStrategy(
            max_attempts=1 if writer else READER_ATTEMPTS
        ),
    )


@functools.cache
def _reader_filesystem(settings: StoreSettings) -> Any:
    return s3_filesystem(settings)


def reader_filesystem(settings: StoreSettings | None = None) -> Any:
    """The readers' S3 file system for ``settings``, by default the current ones (one
    per settings)."""
    return _reader_filesystem(resolve_settings() if settings is None else settings)


def storage_options(paths: Sequence[str]) -> dict[str, str] | None:
    """polars' ``storage_options`` for ``paths``: None when they are local files."""
    if not any(is_object_url(path) for path in paths):
        return None
    settings = resolve_settings()
    options = {"aws_region": settings.region}
    if settings.endpoint_url is not None:
        options["aws_endpoint_url"] = settings.endpoint_url
        if settings.endpoint_url.startswith("http://"):
            options["aws_allow_http"] = "true"
    if settings.access_key and settings.secret_key:
        options["aws_access_key_id"] = settings.access_key
        options["aws_secret_access_key"] = settings.secret_key
        if settings.session_token:
            options["aws_session_token"] = settings.session_token
    return options


# -- reading ----------------------------------------------------------------------------


def store_error(
    where: str, error: BaseException, settings: StoreSettings | None = None
) -> InputError:
    """An :class:`InputError` naming ``where`` and what to fix for a failed S3 request."""
    text = " ".join(str(error).split())
    for secret in settings.secrets if settings is not None else ():
        text = text.replace(secret, "***")
    upper = text.upper()
    endpoint = (settings.endpoint_url if settings else None) or "AWS S3"
    if "NO_SUCH_BUCKET" in upper or "NOSUCHBUCKET" in upper or "BUCKET DOES NOT EXIST" in upper:
        return InputError(f"{where}: no such bucket at {endpoint}; check the bucket name")
    if any(
        word in upper
        for word in ("ACCESS_DENIED", "ACCESSDENIED", "SIGNATURE", "INVALIDACCESSKEY", "FORBIDDEN")
    ):
        return InputError(
            f"{where}: the object store at {endpoint} refused the credentials; check "
            "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
        )
    if "CURL" in upper or "CONNECT" in upper or "NETWORK" in upper or "RESOLVE" in upper:
        return InputError(
            f"{where}: cannot reach the object store at {endpoint}; check AWS_ENDPOINT_URL "
            "and that the server is up"
        )
    return InputError(f"{where}: the object store request failed ({text[:200]})")


def list_parquet(url: str) -> list[str]:
    """The ``s3://`` URLs of the Parquet objects at ``url``: the object itself, or every
    ``*.parquet`` object below it as a folder (names or folders starting with ``.``
    left out, as on disk). One LIST request per 1,000 objects.

    Raises:
        InputError: The URL is malformed, the bucket or prefix does not exist, the
            credentials are refused, or the store cannot be reached.
    """
    import pyarrow.fs as pafs

    location = parse_object_url(url)
    settings = resolve_settings()
    filesystem = _reader_filesystem(settings)
    try:
        if location.key.endswith(".parquet"):
            info = filesystem.get_file_info(location.path)
            if info.type == pafs.FileType.File:
                return [str(location)]
        infos = filesystem.get_file_info(
            pafs.FileSelector(location.path, recursive=True, allow_not_found=False)
        )
    except FileNotFoundError:
        raise InputError(f"{url}: no such object or prefix; check the path") from None
    except OSError as error:
        raise store_error(url, error, settings) from None
    found = []
    base = location.path
    for info in infos:
        if info.type != pafs.FileType.File or not info.path.endswith(".parquet"):
            continue
        relative = info.path[len(base) :].lstrip("/").split("/")
        if any(part.startswith(".") for part in relative):
            continue
        found.append(f"{SCHEME}{info.path}")
    return found


@contextlib.contextmanager
def open_input(
    path: str, what: str = "input", hint: str = "pass a regular file"
) -> Iterator[BinaryIO]:
    """Open a local regular file (see :func:`~tracekit.fileio.open_regular`) or an
    ``s3://`` object for random-access reading.

    Raises:
        InputError: The file is not a regular file, or the object cannot be read.
    """
    if not is_object_url(path):
        with open_regular(path, what, hint) as file:
            yield file
        return
    location = parse_object_url(path)
    settings = resolve_settings()
    try:
        handle = _reader_filesystem(settings).open_input_file(location.path)
    except FileNotFoundError:
        raise InputError(f"{path}: cannot read {what}: no such object; {hint}") from None
    except OSError as error:
        raise store_error(path, error, settings) from None
    with handle:
        yield handle
