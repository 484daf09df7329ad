"""Fixtures on the test PostgreSQL server (scripts/with_services.sh): a login role with a password."""
from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def password_role(postgres_server):
    """A login role with a password owning a fresh database (the test server demands the password of every
    role but its superuser): yields (role, password, URL without password); dropped after."""
    role, password = f"lab_{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    name = f"lstmlab_test_{uuid.uuid4().hex[:12]}"
    with postgres_server.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" OWNER {role}')
    url = postgres_server.url.set(username=role, password=None, database=name)
    yield role, password, url
    with postgres_server.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
