"""melab analysis package."""
