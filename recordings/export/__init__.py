"""Exports of a session into the field's formats: MNE, BIDS, NWB; import of XDF (docs/export.md)."""
