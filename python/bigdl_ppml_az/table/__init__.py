"""Tables: authenticated manifests, file binding and rollback anchors (no Spark imports)."""
