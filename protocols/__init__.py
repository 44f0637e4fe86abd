"""melab protocols package."""
