"""The CMRR protocol: protocol and library files, validation, the Qt-free engine."""
