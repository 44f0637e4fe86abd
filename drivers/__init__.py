"""Devices behind small interfaces: cameras, LSL streams, the trigger box; the simulated lab."""
