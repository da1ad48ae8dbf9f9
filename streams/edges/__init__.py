"""Hospital edges: HL7 v2 over MLLP in (`lytewatch mllp`), CDS Hooks out (on the worker's web port)."""
