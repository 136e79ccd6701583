"""A throwaway PostgreSQL 15 + PostGIS cluster for the history store's tests: initdb in a temporary folder owned by
`postgres` (the server refuses to run as root), a unix socket there and a random port, stopped at the end.

Each test gets its own database, copied from a template that holds PostGIS and the README's three roles: the owner
(migrations), the writer (ingest, review) and the reader (QGIS, web pages).
"""

from __future__ import annotations

import os
import pwd
import random
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

BIN = Path("/usr/lib/postgresql/15/bin")
TEMPLATE = "history_template"
# the README's setup, run once in the template database by the superuser
ROLES_SQL = """
ALTER DATABASE {db} OWNER TO sinkzone_owner;
CREATE EXTENSION IF NOT EXISTS postgis;
ALTER SCHEMA public OWNER TO sinkzone_owner;
GRANT USAGE ON SCHEMA public TO sinkzone_writer, sinkzone_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE sinkzone_owner IN SCHEMA public GRANT SELECT ON TABLES TO sinkzone_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE sinkzone_owner IN SCHEMA public GRANT SELECT, INSERT, UPDATE ON TABLES
    TO sinkzone_writer;
ALTER DEFAULT PRIVILEGES FOR ROLE sinkzone_owner IN SCHEMA public GRANT USAGE ON SEQUENCES TO sinkzone_writer;
"""


@dataclass(frozen=True)
class Cluster:
    socket_dir: Path
    port: int

    def url(self, db: str, *, role: str = "postgres") -> str:
        return f"postgresql://{role}@/{db}?host={self.socket_dir}&port={self.port}"

    def sql(self, statement: str, *, db: str = "postgres") -> None:
        with psycopg.connect(self.url(db), autocommit=True) as conn:
            conn.execute(statement)

    def new_database(self, name: str) -> None:
        self.sql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} OWNER sinkzone_owner")


def _as_postgres(*args: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True, timeout=120)


@contextmanager
def cluster() -> Iterator[Cluster]:
    folder = Path(tempfile.mkdtemp(prefix="sinkzone-pg-"))
    owner = pwd.getpwnam("postgres")
    os.chown(folder, owner.pw_uid, owner.pw_gid)
    port = random.randint(20_000, 60_000)
    data = folder / "data"
    _as_postgres(str(BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w", "-o",
                 f"-p {port} -k {folder} -c listen_addresses='' -c fsync=off", "start")
    found = Cluster(socket_dir=folder, port=port)
    try:
        for role in ("sinkzone_owner", "sinkzone_writer", "sinkzone_reader"):
            found.sql(f"CREATE ROLE {role} LOGIN")
        found.sql(f"CREATE DATABASE {TEMPLATE}")
        found.sql(ROLES_SQL.format(db=TEMPLATE), db=TEMPLATE)
        yield found
    finally:
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)
