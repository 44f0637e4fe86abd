"""`melab export bids|nwb` and `melab import xdf` (docs/export.md)."""

from __future__ import annotations

import argparse

from app.cli import checks
from app.cli.analyze import progress_bar


def cmd_export_bids(args: argparse.Namespace) -> int:
    """Write sessions into a BIDS dataset."""
    from recordings.export.bids import write_bids

    written = write_bids(args.sessions, args.root, progress=progress_bar)
    print(f"{len(written)} session(s) written to the BIDS dataset {args.root}")
    return 0


def cmd_export_nwb(args: argparse.Namespace) -> int:
    """Write one session as an NWB file."""
    from recordings.export.nwb import write_nwb

    print(f"written {write_nwb(args.session, args.out, progress=progress_bar)}")
    return 0


def cmd_import_xdf(args: argparse.Namespace) -> int:
    """Turn a LabRecorder XDF file into a melab session."""
    from recordings.export.xdf_import import import_xdf

    folder = import_xdf(args.file, args.out, args.participant, progress=progress_bar)
    print(f"imported {args.file} as session {folder}")
    return 0


def add_export_commands(sub: argparse._SubParsersAction) -> None:
    """Register export (bids, nwb) and import (xdf) on the melab parser."""
    export = sub.add_parser("export", help="write sessions in the field's formats (BIDS, NWB)")
    kinds = export.add_subparsers(dest="export_command", required=True)
    bids = kinds.add_parser(
        "bids", help="sessions into a BIDS dataset (MNE-BIDS)",
        description="EEG as BrainVision with channels, electrodes and events; peripheral "
        "streams as physio files; the face video only with consent level 1 (docs/export.md).")
    bids.add_argument("sessions", nargs="+", type=checks.existing_session,
                      help="synchronized session folders")
    bids.add_argument("--root", required=True, type=checks.output_folder,
                      help="the BIDS dataset folder (created, or added to)")
    bids.set_defaults(func=cmd_export_bids)
    nwb = kinds.add_parser("nwb", help="one session as an NWB file (PyNWB)")
    nwb.add_argument("session", type=checks.existing_session, help="synchronized session")
    nwb.add_argument("--out", required=True, type=checks.output_folder,
                     help="the .nwb file to write (never replaced)")
    nwb.set_defaults(func=cmd_export_nwb)

    imports = sub.add_parser("import", help="make a melab session from another recorder's file")
    formats = imports.add_subparsers(dest="import_command", required=True)
    xdf = formats.add_parser("xdf", help="a LabRecorder XDF file (pyxdf)")
    xdf.add_argument("file", type=checks.existing_file, help="the .xdf file")
    xdf.add_argument("--out", required=True, type=checks.output_folder,
                     help="folder that receives the session")
    xdf.add_argument("--participant", type=checks.participant_id, default="P01",
                     help="participant ID of the session")
    xdf.set_defaults(func=cmd_import_xdf)
