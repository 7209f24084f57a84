"""The scrape configuration: which targets, which profiles, how often, with which labels.

A TOML file (or the same structure as JSON, or a dict)::

    store = "profiles"                  # the store directory (the command line may override it)
    interval = "10s"                    # default for every job: "500ms", "10s", "1m" or seconds
    profiles = ["profile", "heap", "allocs", "goroutine"]

    [[jobs]]
    name = "api"                        # becomes the `job` label
    targets = ["127.0.0.1:4000", "127.0.0.1:4001"]   # each becomes an `instance` label
    # a target may carry labels of its own: { url = "127.0.0.1:4002", labels = { worker = "3" } }
    labels = { env = "dev" }            # added to every profile of the job
    interval = "10s"                    # optional, per job
    profiles = ["profile", "heap"]      # optional, per job

As Parca does, delta profiles (``profile`` = CPU, ``allocs``) are asked for with
``?seconds=<interval>``, so consecutive scrapes cover consecutive stretches of time; ``heap``
and ``goroutine`` are snapshots taken every interval. A profile name may also be a path
(``/debug/pprof/wall``) or ``path?seconds`` to scrape any other endpoint as a delta.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re

from ..errors import OptionError

DEFAULT_PROFILES = ("profile", "heap", "allocs", "goroutine")
# Endpoints whose delta form is ?seconds=N (Go: profile always, allocs/heap/block/mutex with seconds).
DELTA_PROFILES = {"profile", "allocs", "block", "mutex", "wall"}


@dataclasses.dataclass(frozen=True)
class ProfileSpec:
    """One endpoint to scrape: its kind name, URL path and whether it is a delta."""

    kind: str
    path: str
    delta: bool


@dataclasses.dataclass(frozen=True)
class Target:
    """One scrape loop's target: a base URL, its labels, interval and profile."""

    job: str
    instance: str
    url: str
    labels: tuple
    interval: float
    profile: ProfileSpec

    @property
    def name(self) -> str:
        return f"{self.job}/{self.instance}/{self.profile.kind}"


@dataclasses.dataclass
class ScrapeConfig:
    jobs: list
    store: str | None = None
    interval: float = 10.0
    timeout: float | None = None

    def targets(self) -> list[Target]:
        """Every (target, profile) pair: one scrape loop each."""
        out = []
        for job in self.jobs:
            for instance, own in job["targets"]:
                url = instance if "://" in instance else "http://" + instance
                hostport = re.sub(r"^[a-z+]+://", "", instance).split("/")[0]
                labels = dict(job.get("labels", {}))
                labels.update(own)
                labels.update(job=job["name"], instance=hostport)
                for spec in job["profiles"]:
                    out.append(Target(job["name"], hostport, url.rstrip("/"), tuple(sorted(labels.items())),
                                      job["interval"], spec))
        return out


def parse_duration(value, what: str) -> float:
    """Seconds from 10, 2.5, "10s", "500ms", "1m", "1h"."""
    if isinstance(value, bool):
        raise OptionError(f"{what} must be a duration like \"10s\", got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", str(value))
        if not m:
            raise OptionError(f"{what} must be a duration like \"10s\", \"500ms\" or \"1m\", got {value!r}")
        seconds = float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
    if seconds <= 0:
        raise OptionError(f"{what} must be positive, got {value!r}")
    return seconds


def _profile_spec(name, where: str) -> ProfileSpec:
    if not isinstance(name, str) or not name.strip():
        raise OptionError(f"{where}: a profile must be a name like \"heap\" or a path, got {name!r}")
    name = name.strip()
    if name.startswith("/"):
        path, _, query = name.partition("?")
        kind = path.rstrip("/").rsplit("/", 1)[-1]
        return ProfileSpec(kind, path, query == "seconds" or kind in DELTA_PROFILES)
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise OptionError(f"{where}: unknown profile {name!r}; expected e.g. profile, heap, allocs, goroutine")
    return ProfileSpec(name, f"/debug/pprof/{name}", name in DELTA_PROFILES)


def _target(entry, where: str) -> tuple[str, dict]:
    """A target as (address, its own labels): "host:port" or {url = "host:port", labels = {...}}."""
    if isinstance(entry, str) and entry:
        return entry, {}
    if isinstance(entry, dict) and isinstance(entry.get("url"), str) and entry["url"] and set(entry) <= {"url", "labels"}:
        labels = entry.get("labels", {})
        if isinstance(labels, dict) and not {"job", "instance"} & set(labels):
            return entry["url"], {str(k): str(v) for k, v in labels.items()}
    raise OptionError(f"{where}: a target must be \"host:port\" or {{ url = \"host:port\", labels = {{ ... }} }} "
                      f"(job and instance are set by the scraper), got {entry!r}")


def load_config(source) -> ScrapeConfig:
    """A ScrapeConfig from a TOML or JSON file path, or a dict of the same structure."""
    where = "scrape config"
    if isinstance(source, ScrapeConfig):
        return source
    if isinstance(source, (str, os.PathLike)):
        where = os.fspath(source)
        try:
            with open(source, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise OptionError(f"cannot read scrape config {where}: {exc.strerror or exc}") from None
        try:
            if where.endswith(".json"):
                raw = json.loads(data)
            else:
                import tomllib

                raw = tomllib.loads(data.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            kind = "JSON" if where.endswith(".json") else "TOML"
            raise OptionError(f"{where} is not valid {kind}: {exc}") from None
    elif isinstance(source, dict):
        raw = source
    else:
        raise OptionError(f"a scrape config must be a path or a dict, got {type(source).__name__}")
    return _from_dict(raw, where)


def _from_dict(raw: dict, where: str) -> ScrapeConfig:
    known = {"store", "interval", "profiles", "jobs", "timeout"}
    unknown = set(raw) - known
    if unknown:
        raise OptionError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}; expected {', '.join(sorted(known))}")
    interval = parse_duration(raw.get("interval", 10), f"{where}: interval")
    timeout = parse_duration(raw["timeout"], f"{where}: timeout") if "timeout" in raw else None
    default_profiles = raw.get("profiles", list(DEFAULT_PROFILES))
    jobs_raw = raw.get("jobs")
    if not isinstance(jobs_raw, list) or not jobs_raw:
        raise OptionError(f"{where}: expected at least one [[jobs]] entry with a name and targets")
    jobs, names = [], set()
    for i, job in enumerate(jobs_raw):
        here = f"{where}: jobs[{i}]"
        if not isinstance(job, dict):
            raise OptionError(f"{here} must be a table with name and targets")
        extra = set(job) - {"name", "targets", "labels", "interval", "profiles"}
        if extra:
            raise OptionError(f"{here}: unknown setting(s) {', '.join(sorted(extra))}")
        name = job.get("name")
        if not isinstance(name, str) or not name:
            raise OptionError(f"{here} needs a name (it becomes the job label)")
        if name in names:
            raise OptionError(f"{here}: job name {name!r} is used twice")
        names.add(name)
        targets = job.get("targets")
        if not isinstance(targets, list) or not targets:
            raise OptionError(f"{here} ({name}) needs targets: a list like [\"127.0.0.1:4000\"]")
        targets = [_target(t, f"{here} ({name})") for t in targets]
        labels = job.get("labels", {})
        if not isinstance(labels, dict) or not all(isinstance(k, str) for k in labels):
            raise OptionError(f"{here} ({name}): labels must be a table of name = \"value\"")
        reserved = {"job", "instance"} & set(labels)
        if reserved:
            raise OptionError(f"{here} ({name}): labels {', '.join(sorted(reserved))} are set by the scraper")
        profiles = job.get("profiles", default_profiles)
        if not isinstance(profiles, list) or not profiles:
            raise OptionError(f"{here} ({name}): profiles must be a non-empty list")
        jobs.append(dict(
            name=name, targets=list(targets), labels={k: str(v) for k, v in labels.items()},
            interval=parse_duration(job.get("interval", interval), f"{here}: interval"),
            profiles=[_profile_spec(p, here) for p in profiles]))
    store = raw.get("store")
    if store is not None and not isinstance(store, str):
        raise OptionError(f"{where}: store must be a directory path, got {store!r}")
    return ScrapeConfig(jobs=jobs, store=store, interval=interval, timeout=timeout)
