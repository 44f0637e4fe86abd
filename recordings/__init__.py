"""melab recordings package."""
