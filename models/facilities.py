"""Facility facts in one place: operating windows, spectral bands and fields of view.

:func:`models.validate.validate` uses these facts for its plausibility rules: a row whose times fall
outside its facility's operating window, whose band lies outside what the facility can observe, or
whose field of view is not one its instruments have, is a parsing or unit error (a day-of-year read
as a month, keV taken for eV, a radius published as a diameter, arcminutes as degrees) even when
every value is inside the standard's generic range.

Names are those the sources publish in ``facility_name`` (``scrapers/nustar.py``, ``xmm_newton.py``,
``integral.py``, ``gadf.py`` and ``eso*``'s ``INSTRUMENT_FACILITY`` / ``TELESCOPE_FACILITY``). A facility
not listed here is reported by the ``unknown-facility`` rule: adding one is one entry below, with its
citations.

Conventions
-----------
* ``start`` is the launch (space) or first-light (ground) **date**, taken as 00:00 UTC of that day:
  rows at exactly that instant pass. When a source gives only a month or year, the first day of it.
* ``end`` is the last day of science operations (inclusive: the window closes at 24:00 UTC), or
  ``None`` for a facility still operating.
* ``horizon_days``: how far after the as-of time a Scheduled/Planned row may lie. It is the longest
  look-ahead of the facility's published plans with a margin, so a wrapped or mistyped far-future
  date (``9999:001``, ``2200-01-01``) is caught while a genuine next-period plan is not.
* ``bands``: vacuum-wavelength intervals in metres (``em_min``/``em_max`` units); a row's
  ``[em_min, em_max]`` must lie inside one of them. Energies and frequencies are converted with
  :mod:`models.units` (``em_min`` comes from the *highest* energy).
* ``fov_deg``: ``(min, max)`` of ``s_fov`` (diameter, degrees) over the facility's instruments;
  ``instruments`` narrows band and field for the instruments named by the sources.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from models.timeutil import PLAUSIBLE_MJD, mjd_from_date
from models.units import C_M_S, energy_band_to_em, kev_band_to_em

Band = tuple[float, float]


def _ghz(lo_ghz: float, hi_ghz: float) -> Band:
    """Wavelength band (m) of a frequency band in GHz."""
    return C_M_S / (hi_ghz * 1e9), C_M_S / (lo_ghz * 1e9)


def _ev(lo_ev: float, hi_ev: float) -> Band:
    em_min, em_max = energy_band_to_em(lo_ev, hi_ev)
    return float(em_min), float(em_max)


@dataclass(frozen=True)
class InstrumentFacts:
    """Band and field of one instrument of a facility (``None``: the facility's)."""

    name: str
    bands: tuple[Band, ...] | None = None
    fov_deg: tuple[float, float] | None = None


@dataclass(frozen=True)
class Facility:
    """Operating window, bands and fields of view of one facility (see the module conventions)."""

    name: str
    start: dt.date
    end: dt.date | None
    horizon_days: float
    bands: tuple[Band, ...]
    fov_deg: tuple[float, float]
    source: str
    instruments: Mapping[str, InstrumentFacts] = field(default_factory=dict)

    @property
    def start_mjd(self) -> float:
        """MJD (UTC) of the first instant of the window."""
        return mjd_from_date(self.start)

    @property
    def end_mjd(self) -> float:
        """MJD (UTC) of the last instant of the window.

        While operating: the end of the time layer's plausible range (2100), so that no validation
        depends on the clock and no time past it passes.
        """
        return PLAUSIBLE_MJD[1] if self.end is None else mjd_from_date(self.end) + 1.0


def _instruments(*facts: InstrumentFacts) -> dict[str, InstrumentFacts]:
    return {f.name: f for f in facts}


# --------------------------------------------------------------------------------- space missions

#: NuSTAR: launched 2012-06-13 (HEASARC "NuSTAR launch" page: "launched on June 13, 2012"); 3-79 keV,
#: field of view about 12 arcmin diameter (sources.md, NuSTAR instrument facts). The field is 13' at low
#: energy and ~6' (50 % response) at 68 keV: 0.1-0.25 deg. Long-range plan: weeks to months ahead.
NUSTAR = Facility(
    name="NuSTAR",
    start=dt.date(2012, 6, 13),
    end=None,
    horizon_days=366.0,
    bands=(kev_band_to_em(3.0, 79.0),),
    fov_deg=(0.1, 0.25),
    source="HEASARC heapow 'NuSTAR launch' (2012-06-13); sources.md (3-79 keV, 12 arcmin field)",
)

#: XMM-Newton: launched 1999-12-10 on Ariane 504 (ESA: "am 10. Dezember 1999 mit einer Ariane-5";
#: physicsworld "XMM launches", 10 Dec 1999). EPIC 0.15-15 keV, 30' field; RGS 0.33-2.5 keV (rows use
#: the EPIC field); OM 170-650 nm, 17' field (sources.md, XMM instrument facts).
XMM_NEWTON = Facility(
    name="XMM-Newton",
    start=dt.date(1999, 12, 10),
    end=None,
    horizon_days=366.0,
    bands=(kev_band_to_em(0.15, 15.0), (170e-9, 650e-9)),
    fov_deg=(17.0 / 60.0, 0.5),
    source="ESA / physicsworld (launch 1999-12-10); sources.md (EPIC, RGS, OM facts)",
    instruments=_instruments(
        InstrumentFacts("EPIC", (kev_band_to_em(0.15, 15.0),), (0.5, 0.5)),
        InstrumentFacts("RGS", (kev_band_to_em(0.33, 2.5),), (0.5, 0.5)),
        InstrumentFacts("OM", ((170e-9, 650e-9),), (17.0 / 60.0, 17.0 / 60.0)),
    ),
)

#: INTEGRAL: launched 2002-10-17 from Baikonur (The Register 2025-02-28; sciref "launched on 17 October
#: 2002"); observations ceased 2025-02-28 (The Register, "on February 28, the end will come"; sources.md).
#: IBIS 15 keV-10 MeV, SPI 20 keV-8 MeV, JEM-X 3-35 keV, OMC V band (taken as 500-600 nm, as
#: scrapers/integral.py does). IBIS rows' s_fov is the coverage of the dithered pointings: twice
#: (largest pointing offset + 4.5 deg), so at least the 9 deg fully coded field and, for observations
#: grouping pointings across the sky, up to a hemisphere (180 deg); still catches a radius (4.5) or
#: arcminutes (540) published as the diameter.
INTEGRAL = Facility(
    name="INTEGRAL",
    start=dt.date(2002, 10, 17),
    end=dt.date(2025, 2, 28),
    horizon_days=366.0,
    bands=(kev_band_to_em(3.0, 10_000.0), (500e-9, 600e-9)),
    fov_deg=(4.8, 180.0),
    source="The Register 2025-02-28 (launch 2002-10-17, end of observations 2025-02-28); sources.md",
    instruments=_instruments(
        InstrumentFacts("IBIS", (kev_band_to_em(15.0, 10_000.0),), (9.0, 180.0)),
        InstrumentFacts("SPI", (kev_band_to_em(20.0, 8_000.0),), (16.0, 180.0)),
        InstrumentFacts("JEM-X", (kev_band_to_em(3.0, 35.0),), (4.8, 180.0)),
        InstrumentFacts("OMC", ((500e-9, 600e-9),), (5.0, 180.0)),
    ),
)

# ------------------------------------------------------------------------------- ground facilities

#: ESO plans cover the current and next period; after the 2025 move to a yearly cycle (sources.md)
#: the next period may end about two years after the as-of date.
_ESO_HORIZON_DAYS = 2.0 * 366.0

#: ESO VLT: UT1 (Antu) first light 1998-05-25 (ESO press releases eso9820/eso9823: "First Light Event
#: for the UT1 on May 25, 1998"). Instruments from the atmospheric UV cut-off (~300 nm: UVES,
#: X-shooter) to the mid-IR (VISIR to ~25 um); fields from a 1" fibre (ESPRESSO) to the 25' FLAMES field.
ESO_VLT = Facility(
    name="ESO-VLT",
    start=dt.date(1998, 5, 25),
    end=None,
    horizon_days=_ESO_HORIZON_DAYS,
    bands=((300e-9, 25e-6),),
    fov_deg=(1.0 / 3600.0 / 4.0, 0.5),
    source="ESO eso9820/eso9823 (UT1 first light 1998-05-25); scrapers/eso OPTICAL_INSTRUMENTS",
)

#: VLTI: first fringes 2001-03-17 with siderostats and VINCI (ESO press release eso0111, "On March 17,
#: 2001, 'First Fringes' were obtained"). Instruments J to N band: AMBER from 1.1 um, MATISSE to 13 um
#: (models.radio.INSTRUMENTS), MIDI 8-13 um. s_fov of interferometric rows is the single-telescope
#: beam lambda/D (models.radio): ~0.05" (1.1 um on an 8.2 m UT) to ~1.5" (13 um on a 1.8 m AT).
ESO_VLTI = Facility(
    name="ESO-VLTI",
    start=dt.date(2001, 3, 17),
    end=None,
    horizon_days=_ESO_HORIZON_DAYS,
    bands=((1.0e-6, 13.5e-6),),
    fov_deg=(1e-6, 1e-3),
    source="ESO eso0111 (first fringes 2001-03-17); models.radio.INSTRUMENTS (bands)",
)

#: APEX: science verification July 2005, inaugurated 2005-09-25 (ESO eso0531); first light 2005 taken as
#: 2005-01-01. Works at 0.2-1.5 mm (eso0531) and with the heterodyne receivers at 159-950 GHz
#: (models.radio); band 0.19-2.1 mm (~143 GHz-1.6 THz). s_fov: beam of a 12 m dish (~7" at 950 GHz)
#: to bolometer fields (LABOCA 11.4', a third of the Moon: ESO APEX handout): 0.001-0.25 deg.
APEX = Facility(
    name="APEX",
    start=dt.date(2005, 1, 1),
    end=None,
    horizon_days=_ESO_HORIZON_DAYS,
    bands=((0.19e-3, 2.1e-3),),
    fov_deg=(0.001, 0.25),
    source="ESO eso0531 (2005, 0.2-1.5 mm); models.radio.INSTRUMENTS (APEXHET 159-950 GHz)",
)

#: VISTA: first images released December 2009, provisional acceptance 2009-12-10 (ESO ESOcast 12, ROE
#: press release 2009-12-11); first light taken as 2009-12-01. VIRCAM Z-Ks 0.83-2.5 um, 1.65 deg field;
#: 4MOST (2.5 deg field, 370-950 nm) from 2025 is within 0.35-2.5 um / 1-2.6 deg.
ESO_VISTA = Facility(
    name="ESO-VISTA",
    start=dt.date(2009, 12, 1),
    end=None,
    horizon_days=_ESO_HORIZON_DAYS,
    bands=((0.35e-6, 2.5e-6),),
    fov_deg=(1.0, 2.6),
    source="ESOcast 12 / ROE press release 2009-12-11 (VISTA first light); scrapers/eso OPTICAL_INSTRUMENTS",
)

#: VST: first images released 2011-06-08 (ESO eso1119); first light taken as 2011-06-01. OmegaCAM
#: 330-1000 nm, 1 deg x 1 deg (1.41 deg enclosing circle).
ESO_VST = Facility(
    name="ESO-VST",
    start=dt.date(2011, 6, 1),
    end=None,
    horizon_days=_ESO_HORIZON_DAYS,
    bands=((300e-9, 1100e-9),),
    fov_deg=(1.0, 1.5),
    source="ESO eso1119 (2011-06-08); scrapers/eso OPTICAL_INSTRUMENTS (OmegaCAM)",
)

#: NTT: first light 1989-03-23 (ESO potw1219b: "had its first light on 23 March 1989"). EFOSC2
#: (~305-1100 nm), SOFI (0.9-2.5 um), SOXS (350-2000 nm); fields up to ~5' (0.15 deg enclosing).
ESO_NTT = Facility(
    name="ESO-NTT",
    start=dt.date(1989, 3, 23),
    end=None,
    horizon_days=_ESO_HORIZON_DAYS,
    bands=((300e-9, 2.5e-6),),
    fov_deg=(1e-4, 0.15),
    source="ESO potw1219b (NTT first light 1989-03-23)",
)

#: ESO 3.6 m: completed 1976 (ESO NTT history: "the 3.6-meter telescope at La Silla, completed in
#: 1976"); taken as 1976-01-01. HARPS 378-691 nm and NIRPS 0.95-1.8 um (fibres of ~0.4-1"), EFOSC in
#: the past: 300 nm-2.5 um, fields up to 0.1 deg.
ESO_36M = Facility(
    name="ESO-3.6m",
    start=dt.date(1976, 1, 1),
    end=None,
    horizon_days=_ESO_HORIZON_DAYS,
    bands=((300e-9, 2.5e-6),),
    fov_deg=(5e-5, 0.1),
    source="NTT history page (3.6 m completed 1976); HARPS/NIRPS instrument facts",
)

#: H.E.S.S.: first telescope (CT3) completed June 2002 and observing at once (arXiv astro-ph/0403052;
#: MPIK 20th anniversary page); the four-telescope array operating from December 2003 (in2p3 indico
#: 1697: "operating since December 2003"). Energies 100 GeV-100 TeV for Phase I (Univ. Innsbruck
#: H.E.S.S. page; the design threshold of the 12 m telescopes was ~50 GeV, HEAD 2000 abstract 43.11),
#: threshold ~30 GeV with CT5 (in2p3): band 20 GeV-100 TeV, Phase I 50 GeV-100 TeV. Camera field 5 deg
#: diameter (Innsbruck page) for CT1-4, 3.2 deg for CT5. Archival releases only: no plan horizon is
#: needed, one year kept for generality.
HESS = Facility(
    name="H.E.S.S.",
    start=dt.date(2002, 6, 1),
    end=None,
    horizon_days=366.0,
    bands=(_ev(20e9, 100e12),),
    fov_deg=(3.0, 5.0),
    source="arXiv astro-ph/0403052 (CT3 June 2002); in2p3 indico 1697 (array Dec 2003); Univ. Innsbruck (band, 5 deg)",
    instruments=_instruments(InstrumentFacts("H.E.S.S. Phase I", (_ev(50e9, 100e12),), (5.0, 5.0))),
)

#: Every known facility by the name the sources publish in ``facility_name``.
FACILITIES: dict[str, Facility] = {
    f.name: f
    for f in (NUSTAR, XMM_NEWTON, INTEGRAL, ESO_VLT, ESO_VLTI, APEX, ESO_VISTA, ESO_VST, ESO_NTT, ESO_36M, HESS)
}

#: Relative tolerance on band edges: bands published by the sources go through the same unit
#: conversions (keV -> m, GHz -> m) as these facts; 1e-9 covers the round-off, nothing more.
BAND_RTOL = 1e-9


def instrument_bands(facility: Facility, instrument: str | None) -> tuple[Band, ...]:
    """Bands a row of ``facility`` taken with ``instrument`` may cover (the facility's if unknown)."""
    facts = facility.instruments.get(instrument) if instrument is not None else None
    return facts.bands if facts is not None and facts.bands is not None else facility.bands


def instrument_fov(facility: Facility, instrument: str | None) -> tuple[float, float]:
    """``(min, max)`` s_fov (deg) for ``instrument`` of ``facility`` (the facility's if unknown)."""
    facts = facility.instruments.get(instrument) if instrument is not None else None
    return facts.fov_deg if facts is not None and facts.fov_deg is not None else facility.fov_deg
