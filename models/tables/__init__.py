"""The IVOA tables voharvest publishes, one declarative spec per module."""

from models.columns import TableSpec
from models.tables.history import CHANGES, HISTORY_TABLES, OBSPLAN_HISTORY
from models.tables.obscore import OBSCORE
from models.tables.obscore_hea import OBSCORE_HEA
from models.tables.obscore_radio import OBSCORE_RADIO
from models.tables.obsplan import OBSPLAN
from models.tables.row_provenance import ROW_PROVENANCE

#: Published IVOA tables by short name, in publication order.
IVOA_TABLES: dict[str, TableSpec] = {t.name: t for t in (OBSPLAN, OBSCORE, OBSCORE_RADIO, OBSCORE_HEA)}

#: voharvest's provenance side tables by short name (joined on obs_publisher_did).
PROVENANCE_TABLES: dict[str, TableSpec] = {ROW_PROVENANCE.name: ROW_PROVENANCE}

__all__ = [
    "CHANGES",
    "HISTORY_TABLES",
    "IVOA_TABLES",
    "OBSCORE",
    "OBSCORE_HEA",
    "OBSCORE_RADIO",
    "OBSPLAN",
    "OBSPLAN_HISTORY",
    "PROVENANCE_TABLES",
    "ROW_PROVENANCE",
]
