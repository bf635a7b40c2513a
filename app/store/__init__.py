"""Storage: SQLAlchemy 2 tables, engines (SQLite by default, PostgreSQL by URL), migrations."""
