"""The server's configuration, validated once at start-up with errors that name the flag."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, field_validator, model_validator

from controlplane.address import is_loopback


class ServerConfig(BaseModel):
    listen: str = "127.0.0.1:7070"
    store: str
    state_dir: Path
    heartbeat_interval_s: float = Field(default=1.0, gt=0)
    max_heartbeat_rate: float = Field(default=4000.0, gt=0)
    allow_insecure: bool = False
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None
    bootstrap_token_file: Path | None = None
    api_tokens_file: Path | None = None
    signing_key_file: Path | None = None
    node_token_ttl_s: float = Field(default=86400.0, ge=10)
    insecure_no_auth_i_know_what_i_am_doing: bool = False
    audit_log: Path | None = None
    etcd_ca_file: Path | None = None
    etcd_cert_file: Path | None = None
    etcd_key_file: Path | None = None
    ray_address: str | None = None
    scheduler: str = Field(default="ray", pattern="^(ray|inline)$")
    metrics_listen: str | None = None
    health_listen: str | None = None
    leader_label_pod: str | None = Field(default=None, pattern=r"^[^/]+/[^/]+$")
    leader_elect: bool = False
    replan_interval_s: float = Field(default=10.0, gt=0)
    max_moves_per_replan: int = Field(default=5, ge=0)
    max_concurrent_moves: int = Field(default=5, ge=1)
    node_grace_s: float = Field(default=15.0, ge=0)
    regions: Path | None = None
    rtt_matrix: str | None = None
    rtt_matrix_refresh_s: float = Field(default=300.0, gt=0)
    probe_interval_s: float = Field(default=20.0, ge=1)
    clock_file: Path | None = None

    @field_validator("regions")
    @classmethod
    def _regions_load(cls, path: Path | None) -> Path | None:
        from controlplane.regions import RegionsError, load_regions

        try:
            load_regions(path)
        except RegionsError as e:
            raise ValueError(str(e)) from None
        return path

    @model_validator(mode="after")
    def _matrix_loads(self) -> ServerConfig:
        """A matrix file must parse at start-up; a URL may be down now and is retried."""
        from controlplane.regions import alias_index, load_regions
        from controlplane.rttmatrix import MatrixError, is_url, load_matrix

        if self.rtt_matrix and not is_url(self.rtt_matrix):
            try:
                load_matrix(self.rtt_matrix, alias_index(load_regions(self.regions)))
            except MatrixError as e:
                raise ValueError(f"--rtt-matrix: {e}") from None
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None

    @model_validator(mode="after")
    def _secure_by_default(self) -> ServerConfig:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("--tls-cert-file and --tls-key-file go together")
        if not self.tls and not is_loopback(self.listen) and not self.allow_insecure:
            raise ValueError(
                f"--listen {self.listen}: plaintext is only served on loopback; "
                "give --tls-cert-file/--tls-key-file, or --allow-insecure to accept the risk"
            )
        if (
            self.api_tokens_file is None
            and not is_loopback(self.listen)
            and not self.insecure_no_auth_i_know_what_i_am_doing
        ):
            raise ValueError(
                f"--listen {self.listen}: without --api-tokens-file every caller is admin; "
                "that is only allowed on loopback (--allow-insecure waives TLS, not this; "
                "--insecure-no-auth-i-know-what-i-am-doing does)"
            )
        return self

    @model_validator(mode="after")
    def _replicas_share_secrets(self) -> ServerConfig:
        """Replicas must accept each other's node tokens and the same bootstrap token."""
        shared = (self.signing_key_file, self.bootstrap_token_file)
        if self.leader_elect and None in shared:
            raise ValueError(
                "--leader-elect: give every replica the same --signing-key-file and "
                "--bootstrap-token-file (e.g. mounted Kubernetes Secrets)"
            )
        return self

    @property
    def serves_without_auth_off_loopback(self) -> bool:
        return self.api_tokens_file is None and not is_loopback(self.listen)
