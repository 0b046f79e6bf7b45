"""Provenance and anti-counterfeit core: GS1 identifiers, signed trace codes, EPCIS 2.0
validation and normalisation, custody, scan verdicts and cold-chain exposure.

Pure modules with I/O only at the edges (key files, issuance output, the schema file);
the database and resolver wiring lives with the storage and API code.
"""
