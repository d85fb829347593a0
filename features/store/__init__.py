"""The event store: schema, connections and migrations."""
