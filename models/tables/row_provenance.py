"""voharvest's row-level provenance side table: ``voharvest.row_provenance``, joined on ``obs_publisher_did``.

One row per published dataset (ObsCore row or ObsLocTAP observation, both identified by
``obs_publisher_did = ivo://<authority>/<obs_collection>?<obs_id>``) and raw response its source
parsed in the harvest that produced it: the raw record's SHA-256 addresses the exact bytes in the
snapshot's ``raw/`` archive (``raw/blobs/<sha[:2]>/<sha>``), the request key its archive record
(``raw/records/<key>.json``). ``voharvest provenance OBS_PUBLISHER_DID`` follows this table back to
the bytes.
"""

from models.columns import Column, TableSpec

#: How precisely a row is tied to a response: ``request`` when its source parsed exactly one response
#: (the row can only come from it), ``source`` when it parsed several and the row was derived from
#: their union (normalisation joins them; e.g. H.E.S.S. rows use both the obs-index and the hdu-index).
ATTRIBUTIONS: tuple[str, ...] = ("request", "source")

ROW_PROVENANCE = TableSpec(
    name="row_provenance",
    schema="voharvest",
    description=(
        "Row-level provenance: per published dataset (join on obs_publisher_did with ivoa.obscore, or with "
        "ivo://<authority>/<obs_collection>?<obs_id> of ivoa.obsplan) the raw responses it was derived from, "
        "the parser that read them and the snapshots in which it was first and last seen"
    ),
    unique=(("obs_publisher_did", "x_request_key"),),
    columns=(
        Column(
            "obs_publisher_did",
            "char",
            ucd="meta.ref.ivoid",
            utype="Curation.publisherDID",
            description="Dataset identifier (ivoa.obscore.obs_publisher_did; for ivoa.obsplan built from its "
            "obs_collection and obs_id)",
            null_rule="not-null",
            indexed=True,
        ),
        Column(
            "obs_collection",
            "char",
            ucd="meta.id",
            description="Collection of the dataset (ObsCore obs_collection)",
            null_rule="not-null",
        ),
        Column(
            "obs_id",
            "char",
            ucd="meta.id",
            description="Observation identifier within the collection (ObsCore obs_id)",
            null_rule="not-null",
        ),
        Column(
            "x_tables",
            "char",
            ucd="meta.id",
            description="Comma-separated tables holding the dataset (obscore, obsplan)",
            null_rule="not-null",
        ),
        Column(
            "x_source",
            "char",
            ucd="meta.id",
            description="voharvest source that harvested the dataset (nustar, xmm_newton, eso, ...)",
            null_rule="not-null",
        ),
        Column(
            "x_request",
            "char",
            ucd="meta.id",
            description="Name of the request whose response the dataset was derived from",
            null_rule="not-null",
        ),
        Column(
            "x_request_key",
            "char",
            ucd="meta.id",
            description="Request key: the raw archive record raw/records/<key>.json of the snapshot that fetched it",
            null_rule="not-null",
        ),
        Column(
            "x_url",
            "char",
            ucd="meta.ref.url",
            description="URL the response was fetched from",
            null_rule="not-null",
        ),
        Column(
            "x_raw_sha256",
            "char",
            ucd="meta.checksum",
            description="SHA-256 of the raw response bytes (raw/blobs/<sha[:2]>/<sha> of the fetching snapshot)",
            null_rule="not-null",
        ),
        Column(
            "x_fetched_at",
            "timestamp",
            ucd="time.processing",
            description="When the response was fetched (UTC, ISO 8601)",
        ),
        Column(
            "x_attribution",
            "char",
            ucd="meta.code",
            description="request: the source parsed only this response; source: the dataset was derived from "
            "all responses of its source",
            null_rule="not-null",
            values=ATTRIBUTIONS,
        ),
        Column(
            "x_parser",
            "char",
            ucd="meta.id;meta.software",
            description="Parser module and voharvest version that read the response (module version)",
            null_rule="not-null",
        ),
        Column(
            "x_fetch_snapshot",
            "char",
            ucd="meta.dataset",
            description="Snapshot whose raw/ holds the response (differs from this one for carried-over sources)",
            null_rule="not-null",
        ),
        Column(
            "x_first_seen",
            "char",
            ucd="time.epoch;meta.dataset",
            description="First snapshot (YYYY-MM-DD) in which the dataset was published",
            null_rule="not-null",
        ),
        Column(
            "x_last_seen",
            "char",
            ucd="time.epoch;meta.dataset",
            description="Last snapshot (YYYY-MM-DD) in which the dataset was published: this one",
            null_rule="not-null",
        ),
    ),
)
