"""The store: schema, engine, migrations."""
