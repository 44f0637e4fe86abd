"""melab drivers package."""
