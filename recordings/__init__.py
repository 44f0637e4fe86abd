"""The session: store, synchronization, the recorder, replay and simulated sessions."""
