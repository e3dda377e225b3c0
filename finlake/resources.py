"""Dagster resources, and the one function that picks them for an environment."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dagster as dg

from finlake.settings import Settings

if TYPE_CHECKING:
    from plaid.api.plaid_api import PlaidApi
    from pyspark.sql import SparkSession

    from connectors.credentials import CredentialStore
    from lake.catalog import Lake


class LakeResource(dg.ConfigurableResource):
    """The lake: a local directory or ``s3://bucket/prefix``."""

    root: str
    s3_endpoint: str | None = None

    def lake(self) -> Lake:
        from lake.catalog import Lake

        return Lake(self.root, self.s3_endpoint)


class SparkResource(dg.ConfigurableResource):
    """A Spark Connect session: embedded Sail when ``remote`` is empty."""

    remote: str | None = None

    def session(self) -> SparkSession:
        from lake.spark import spark_session

        return spark_session(self.remote)


class PartnerResource(dg.ConfigurableResource):
    """The aggregator partner: a Plaid host, or the embedded sandbox bank when ``host`` is empty."""

    host: str | None = None
    client_id: str
    secret: str
    sandbox_dir: str
    sandbox_seed: int = 7
    sandbox_users: int = 20

    def url(self) -> str:
        if self.host:
            return self.host
        from connectors.sandbox_bank.embedded import embedded_bank

        return embedded_bank(self.sandbox_dir, seed=self.sandbox_seed,
                             users=self.sandbox_users).url

    def client(self) -> PlaidApi:
        from connectors.partner import partner_client

        return partner_client(self.url(), self.client_id, self.secret)


class VaultResource(dg.ConfigurableResource):
    """Credential storage: sealed tokens in the lake, key-encryption keys in ``key_dir``."""

    key_dir: str

    def credentials(self, lake: Lake) -> CredentialStore:
        from pathlib import Path

        from connectors.credentials import CredentialStore
        from connectors.vault import LocalKeyProvider, Vault

        return CredentialStore(lake, Vault(LocalKeyProvider(Path(self.key_dir))))


def resources_for(settings: Settings) -> dict[str, Any]:
    """The resource set for the configured environment (same keys everywhere)."""
    embedded = settings.partner_host is None
    return {
        "lake": LakeResource(root=settings.lake_root, s3_endpoint=settings.s3_endpoint),
        "spark": SparkResource(remote=settings.spark_remote),
        "partner": PartnerResource(
            host=settings.partner_host,
            # Real partner keys stay in the environment (never in run config or storage).
            client_id=settings.partner_client_id if embedded else dg.EnvVar("PLAID_CLIENT_ID"),
            secret=settings.partner_secret if embedded else dg.EnvVar("PLAID_SECRET"),
            sandbox_dir=str(settings.sandbox_dir),
            sandbox_seed=settings.sandbox_seed,
            sandbox_users=settings.sandbox_users,
        ),
        "vault": VaultResource(key_dir=str(settings.key_dir)),
        "io_manager": dg.FilesystemIOManager(base_dir=str(settings.home / "dagster" / "io")),
    }
