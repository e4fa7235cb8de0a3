"""The database: one SQLAlchemy engine per app, sessions scoped to the current thread or greenlet."""

from contextlib import contextmanager
from datetime import timezone

from sqlalchemy import DateTime, create_engine, event
from sqlalchemy.orm import DeclarativeBase, scoped_session, sessionmaker
from sqlalchemy.types import TypeDecorator


class Base(DeclarativeBase):
    pass


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back with its time zone.

    PostgreSQL keeps the zone itself; SQLite stores no zone and returns naive values, which would
    be taken for local time by clients, so values are converted to UTC on the way in and marked
    UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given for a UTC column; attach a time zone")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


def _tune_sqlite(dbapi_connection, _record):
    # WAL lets readers run beside the single writer; a busy timeout makes concurrent writers
    # wait for the lock instead of failing at once with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def normalize_database_url(url):
    """Pin bare PostgreSQL URLs to psycopg2, the driver in requirements.txt.

    SQLAlchemy 2.1 maps "postgresql://" to psycopg 3, which is not installed.
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def cooperate_with_gevent():
    """Make psycopg2 wait for PostgreSQL on gevent's loop, once gevent has patched the sockets.

    psycopg2 is C code that reads its socket itself, so gevent's patches do not reach it: under
    gunicorn's gevent worker a query would stop every greenlet of the worker, each websocket
    included, until PostgreSQL replies. With a wait callback, libpq runs non-blocking and the
    callback yields to the loop while the socket is not ready. Returns True when it is installed.
    """
    try:
        from gevent import monkey
    except ImportError:
        return False
    if not monkey.is_module_patched("socket"):
        return False
    import psycopg2
    from psycopg2 import extensions

    if extensions.get_wait_callback() is not None:
        return True
    from gevent.socket import wait_read, wait_write

    def wait(connection, timeout=None):
        while True:
            state = connection.poll()
            if state == extensions.POLL_OK:
                return
            if state == extensions.POLL_READ:
                wait_read(connection.fileno(), timeout=timeout)
            elif state == extensions.POLL_WRITE:
                wait_write(connection.fileno(), timeout=timeout)
            else:
                raise psycopg2.OperationalError(f"psycopg2 returned an unknown poll state {state!r}")

    extensions.set_wait_callback(wait)
    return True


class Database:
    """The engine and session factory of one app."""

    def __init__(self, url):
        url = normalize_database_url(url)
        self.url = url
        if url.startswith("postgresql"):
            cooperate_with_gevent()
        options = {"future": True, "pool_pre_ping": True}
        if url.startswith("sqlite"):
            options["connect_args"] = {"check_same_thread": False, "timeout": 10}
        self.engine = create_engine(url, **options)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _tune_sqlite)
        self.session = scoped_session(sessionmaker(bind=self.engine, expire_on_commit=False))

    @contextmanager
    def transaction(self):
        """Yield a session that commits on success and rolls back on any exception."""
        session = self.session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

    def remove_session(self, _exc=None):
        self.session.remove()

    def dispose(self):
        self.session.remove()
        self.engine.dispose()
