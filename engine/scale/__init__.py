"""Scale-out: the same engine on PostgreSQL, with procrastinate workers."""
