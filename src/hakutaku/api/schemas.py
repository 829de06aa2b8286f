"""Wire schemas of the control API (`/api`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hakutaku.names import MODEL_NAME_MAX, MODEL_NAME_PATTERN


class UserIn(BaseModel):
    name: str
    role: str = "user"
    email: str | None = None
    groups: list[str] = Field(default_factory=list)


class UserPatch(BaseModel):
    disabled: bool | None = None
    groups: list[str] | None = None
    role: str | None = None


class PasswordIn(BaseModel):
    password: str = Field(description="The new password (at least 10 characters).")
    current_password: str | None = Field(
        None, description="Your current one, when you change your own (admins need none)."
    )


class LoginLinkOut(BaseModel):
    url: str = Field(description="Opens a signed-in portal session once; then set a password.")
    expires_at: datetime


class UserOut(BaseModel):
    id: int
    name: str
    role: str
    email: str | None
    disabled: bool
    groups: list[str]
    created_at: datetime


class KeyIn(BaseModel):
    user: str | None = Field(None, description="Whose key; admins only for other users.")
    name: str = ""
    expires_at: datetime | None = None
    rate_limit: int | None = Field(
        None, ge=1, description="Model calls per minute (admins only); default: the platform's."
    )


class KeyPatch(BaseModel):
    rate_limit: int | None = Field(
        ge=1, description="Model calls per minute; null: the platform's default (HAI_RATE_LIMIT)."
    )


class KeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    prefix: str
    user: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    rate_limit: int | None = Field(description="Calls per minute; null: the platform's default.")


class CreatedKeyOut(KeyOut):
    key: str = Field(description="The secret key; shown only in this response.")


class UpstreamIn(BaseModel):
    name: str
    base_url: str
    api_key: str | None = None
    upstream_model: str | None = Field(None, description="The upstream's name for the model.")
    description: str = ""
    public: bool = True
    groups: list[str] = Field(default_factory=list)
    users: list[str] = Field(default_factory=list)


class ModelPatch(BaseModel):
    public: bool | None = None
    groups: list[str] | None = None
    users: list[str] | None = None
    description: str | None = None


class ModelOut(BaseModel):
    name: str
    kind: str
    description: str
    public: bool
    groups: list[str]
    users: list[str]
    upstream_base_url: str | None
    upstream_model: str | None
    has_upstream_key: bool
    workers: int


class WorkerRegistration(BaseModel):
    model: str = Field(pattern=MODEL_NAME_PATTERN, max_length=MODEL_NAME_MAX)
    url: str
    methods: dict[str, Any] = Field(default_factory=dict)
    max_inflight: int = Field(32, ge=1)
    description: str = ""
    host: str = ""
    pid: int | None = None
    # the secret the gateway must call this worker with (the worker chose it); None: an older
    # worker that accepts the global worker token
    call_token: str | None = Field(None, min_length=16, max_length=256)
    job_id: int | None = None  # the platform job it runs in (HAI_JOB_ID), for deployments


class Heartbeat(BaseModel):
    inflight: int = 0
    served: int = 0


class WorkerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    model: str
    url: str
    methods: dict[str, Any]
    max_inflight: int
    inflight: int
    served: int
    host: str
    pid: int | None
    registered_at: datetime
    last_heartbeat_at: datetime
    job_id: int | None = None
    draining: bool = False


class UsageRow(BaseModel):
    user: str | None
    model: str
    method: str
    calls: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    mean_latency_ms: float


# For endpoints that read the raw body themselves (uploads): how OpenAPI should describe it.
RAW_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
