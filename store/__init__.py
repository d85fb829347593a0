"""The database beneath every package: engines, the write lock, the shared table metadata and
the migrations. Each owning package declares its own tables on `store.metadata.metadata`."""
