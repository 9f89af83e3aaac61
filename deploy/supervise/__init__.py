"""Process supervision for make stack / make cluster (see supervise.sh)."""
