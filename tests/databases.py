"""The test database as a DATABASE_URL, for a subprocess that must see what a test committed."""

from urllib.parse import quote

from django.db import connection


def subprocess_database_url() -> str:
    """Works for a TCP host and for the embedded PostgreSQL's socket directory (a path as host)."""
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{quote(db['USER'], safe='')}{password}@{quote(db['HOST'], safe='')}{port}/{db['NAME']}"
