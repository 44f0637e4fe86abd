"""Clock synchronization: trigger edges, matching, robust fits, the LSL-offset fallback."""
