"""melab app package."""
