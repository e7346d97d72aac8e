"""A class's settings: ``ganpaint classroom`` flags or ``GANPAINT_CLASS_<FIELD>`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ganpaint import REPO_ROOT


class ClassSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GANPAINT_CLASS_", extra="ignore")

    enabled: bool = False  # off: the single-user page and API, exactly as without a class
    name: str = Field("ganpaint class", min_length=1, max_length=80)
    teacher_key: str = ""  # the only credential; ganpaint classroom makes a fresh one (secrets.token_urlsafe)
    dir: Path = REPO_ROOT / "data" / "classroom"  # classroom.sqlite and each ended class's album
    join_urls: str = ""  # comma-separated, what the teacher page projects (ganpaint classroom: this machine's)
    # PostgreSQL for a class over several replicas (a libpq URI or "host=... dbname=..." string); "": SQLite in dir
    database_url: str = Field("", validation_alias=AliasChoices("GANPAINT_DATABASE_URL", "database_url"))

    # every resource a student can make the server spend is bounded (docs/classroom.md)
    max_students: int = Field(60, ge=1, le=1000)  # joins past it: 409
    max_name_chars: int = Field(40, ge=1, le=200)
    max_painting_points: int = Field(16384, ge=1)  # polyline points over a painting's strokes; past it: refused
    hand_in_interval: float = Field(10.0, ge=0)  # seconds between one student's hand-ins; sooner: 429
    max_hand_ins: int = Field(30, ge=1)  # per student and class; past it: 429
    thumbnail_interval: float = Field(2.0, gt=0)  # a student's wall thumbnail is rendered at most this often
    flush_interval: float = Field(1.0, gt=0)  # seconds between writes of changed paintings to the database
    picture_size: int = Field(512, ge=64, le=2048)  # spotlight and album PNGs (px)
