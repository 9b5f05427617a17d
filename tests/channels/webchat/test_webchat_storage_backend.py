"""Widget uploads go where the deployment keeps attachments: S3 when configured."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from relaydesk.app import create_app
from relaydesk.channels.email.storage import LocalStorage, S3Storage
from relaydesk.channels.webchat.runtime import webchat_runtime
from relaydesk.config import Settings, StorageSettings
from relaydesk.kit.db import Database


async def test_widget_uploads_use_the_configured_s3_store(settings: Settings, db: Database) -> None:
    s3 = StorageSettings(backend="s3", s3_endpoint="http://minio.intranet:9000",
                         s3_bucket="cs-files", s3_access_key=SecretStr("AKID"),
                         s3_secret_key=SecretStr("SECRET"))  # fmt: skip
    app = create_app(settings.model_copy(update={"storage": s3}), db=db)
    storage = webchat_runtime(app.state.db).storage
    assert isinstance(storage, S3Storage) and storage.bucket == "cs-files"


async def test_widget_uploads_default_to_files_under_the_data_dir(
    settings: Settings, db: Database
) -> None:
    app = create_app(settings, db=db)
    storage = webchat_runtime(app.state.db).storage
    assert isinstance(storage, LocalStorage)
    assert storage.root == Path(settings.data_dir) / "files"
