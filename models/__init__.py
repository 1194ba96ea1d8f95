"""What an IVOA product is: table specs, schemas, validation, writers, unit and time helpers.

No HTTP and no Dagster in here: everything is a pure function of data (writers excepted).
"""

from models.columns import Column, TableSpec
from models.tables import IVOA_TABLES, OBSCORE, OBSCORE_HEA, OBSCORE_RADIO, OBSPLAN

__all__ = ["IVOA_TABLES", "OBSCORE", "OBSCORE_HEA", "OBSCORE_RADIO", "OBSPLAN", "Column", "TableSpec"]
