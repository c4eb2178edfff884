"""Artifact stores by URL (DESIGN §16): every store verifies every read; bundles move between them."""
from __future__ import annotations

import hashlib
import uuid

import pytest
import sqlalchemy as sa

from marketplace.catalog.stores import ArtifactCorrupt, open_store, parse_spec, store_for
from marketplace.errors import NotFound


@pytest.fixture(params=["file", "db", "s3"])
def store(request, app, tmp_path):
    """One store of each kind (s3: a real S3-compatible server)."""
    if request.param == "file":
        return open_store(f"file://{tmp_path / 'bundles'}")
    if request.param == "db":
        return open_store("db", database_url=app.config["DATABASE_URL"])
    endpoint = request.getfixturevalue("s3_env")
    return open_store(f"s3://bundles/t-{uuid.uuid4().hex[:8]}", s3_endpoint=endpoint)


def _corrupt(store, sha: str) -> None:
    """Change the stored bytes behind the store's back."""
    if store.kind == "file":
        store.path(sha).write_bytes(b"tampered")
    elif store.kind == "db":
        with store.engine.begin() as conn:
            conn.execute(sa.text("UPDATE artifacts SET data = :d WHERE sha256 = :s"),
                         {"d": b"tampered", "s": sha})
    else:
        store.client.put_object(Bucket=store.bucket, Key=store.key(sha), Body=b"tampered")


def test_round_trip_idempotent_and_listed(store):
    data = b"PK bundle " + uuid.uuid4().bytes
    sha = store.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert store.put(data) == sha and store.exists(sha)
    assert store.get(sha) == data
    assert sha in set(store.digests())
    store.check()


def test_reads_are_verified(store):
    sha = store.put(b"original " + uuid.uuid4().bytes)
    _corrupt(store, sha)
    with pytest.raises(ArtifactCorrupt) as refused:
        store.get(sha)
    assert refused.value.reason == "artifact_corrupt" and refused.value.status == 500


def test_missing_is_404_and_digests_whole_matched(store):
    with pytest.raises(NotFound):
        store.get("a" * 64)
    for bad in ("a" * 63, "A" * 64, "a" * 64 + "\n", "../" + "a" * 61, None):
        with pytest.raises(ValueError):
            store.get(bad)


@pytest.mark.parametrize("spec", ["file://relative/path", "s3://", "s3://UPPER/x", "ftp://x",
                                  "database", "db\n", "s3://b\n"])
def test_unknown_store_urls_refused(spec):
    with pytest.raises(ValueError) as refused:
        parse_spec(spec, "/tmp/x")
    assert "file:///path, db or s3://bucket/prefix" in str(refused.value) or "absolute" in \
        str(refused.value)


def test_publish_install_invoke_with_bundles_in_the_database(app, client, catalog, shenzhen):
    app.config["ARTIFACT_STORE"] = "db"
    catalog.toy()
    assert shenzhen.install("toy-echo").status_code == 201
    answer = shenzhen.invoke("toy-echo", "echo", {"text": "db"})
    assert answer.status_code == 200 and answer.get_json()["text"] == "db"
    with app.extensions["db"].engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM artifacts")) == 1
    from pathlib import Path
    assert not list(Path(app.config["ARTIFACT_DIR"]).rglob("*.zip"))
    assert store_for(app.config).kind == "db"


def test_store_migrate_command_copies_and_verifies(app, runner, tmp_path, catalog):
    catalog.toy()
    catalog.toy(version="1.1.0")
    source = store_for(app.config)
    digests = sorted(source.digests())
    assert len(digests) == 2
    moved = runner.invoke(["store", "migrate", "--to", "db"])
    assert moved.exit_code == 0, moved.output
    assert "2 copied" in moved.output and "0 already there" in moved.output
    target = open_store("db", database_url=app.config["DATABASE_URL"])
    assert sorted(target.digests()) == digests
    assert all(target.get(d) == source.get(d) for d in digests)
    again = runner.invoke(["store", "migrate", "--to", "db"])
    assert again.exit_code == 0 and "0 copied" in again.output and "2 already there" in again.output


def test_store_migrate_refuses_a_corrupt_source(app, runner, catalog):
    catalog.toy()
    source = store_for(app.config)
    (sha,) = list(source.digests())
    source.path(sha).write_bytes(b"tampered")
    failed = runner.invoke(["store", "migrate", "--to", "db"])
    assert failed.exit_code == 1 and "fails its sha256 check" in failed.output
    target = open_store("db", database_url=app.config["DATABASE_URL"])
    assert list(target.digests()) == []


def test_two_hosts_storing_the_same_bundle_at_once_both_succeed(app):
    store = open_store("db", database_url=app.config["DATABASE_URL"])
    data = b"same bytes " + uuid.uuid4().bytes
    sha = hashlib.sha256(data).hexdigest()
    store._write(sha, data)
    store._write(sha, data)         # the other host's insert lost the race: same content, no error
    assert store.get(sha) == data
