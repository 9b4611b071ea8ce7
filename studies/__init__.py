"""studies: the attnsim command line and the studies built on cascades, architectures and mappings."""
