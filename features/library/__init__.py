"""Python models shipped with the default project (discovered by the engine, not imported by fstore)."""
