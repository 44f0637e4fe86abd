"""Session storage: the HDF5 layout, writers, reader and what is stored beside the data."""
