"""Settings: one typed, immutable object.

Analyses and generators take a :class:`Settings`; callers change a value with
``dataclasses.replace(settings, households_per_grid=250)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Settings:
    """Tunable rules of the grid-governance model.

    Attributes
    ----------
    households_per_grid
        Target households per grid used when partitioning communities into grids
        (a few hundred is common practice in Chinese grid service).
    sentinel_max_households
        A sentinel responsible for more households than this (summed over all the grids he or
        she is an active sentinel of) is reported as overloaded.
    member_max_buildings
        A building party member covering more buildings than this is reported as overloaded.
    suggestions_per_gap
        How many unassigned party members to suggest for each grid without a sentinel.
    suggestion_max_distance_m
        Suggestions farther than this (straight line, metres, home → grid) are left out.
    metric_crs
        CRS used to measure distances and areas; ``None`` picks one for the data's extent
        (CGCS2000 Gauss-Krüger zone in China, UTM elsewhere).
    tiling_tolerance_m2
        Gaps or overlaps between a community's grids smaller than this area are tolerated.
    containment_tolerance_m
        How far a grid may stick out of its community (digitising noise) before it is an error.
    repair_max_area_change
        ``make_valid`` repairs are applied automatically only when they change a polygon's area
        by less than this fraction; bigger changes are reported as errors instead.
    as_of
        The date coverage is evaluated at (ISO ``YYYY-MM-DD``); ``None`` means today.
    life_circle_m
        Walking distances of the life circles reported by the reach analysis (metres).
    walk_speed_m_per_min
        Walking speed that turns life-circle distances into minutes.
    parking_spaces_per_household
        Parking demand per household (residential-area planning ratio).
    shared_parking_share
        Share of a staggered-hours shared car park's spaces counted for residents (the hours it
        is open to them).
    assignment_max_walk_m
        Party members farther than this walk from a grid are not suggested for it.
    region_margin_km
        An imported file's features must lie within the bounding box of the store's
        communities and towns widened by this many kilometres (a store without any: China's
        rough box, longitude 73–136°, latitude 3–54°); farther ones are refused unless the
        import is forced (they usually mean a wrong ``.prj`` / ``--crs`` or swapped columns).
    max_import_rows
        Most rows (features) one imported file may hold; a bigger file is refused before its
        geometries are built.
    max_vertices_per_geometry
        Most coordinates (vertices, closing points included) of one imported geometry, the
        same for every file format.
    max_name_length
        Most characters of a name-like text value (``name``, codes and other short text
        columns of the layer contract) in an imported file.
    max_text_length
        Most characters of a long free-text value in an imported file (a ticket's ``text``).
    max_login_failures
        Consecutive failed logins after which an account (or a name without an account: the
        answer must not tell them apart) is locked out.
    lockout_minutes
        How long a lock-out lasts; while it lasts even the right password is refused.
    session_hours
        A login expires this many hours after it was made, however active it is (the
        dashboard's login, and a session of :meth:`~layers.auth.accounts.Accounts.start_session`).
    session_idle_hours
        A session of :meth:`~layers.auth.accounts.Accounts.start_session` ends when unused for
        this many hours.
    min_password_length
        Fewest characters of an account's password.
    osm_residential_buildings
        OSM ``building`` values that are homes. Only these (and ``building=yes`` inside a
        ``landuse=residential`` area) get households; every other building (school,
        commercial, retail, gym, station, …) gets 0 (:mod:`layers.osm`).
    osm_m2_per_household
        Floor area of one household (m²): a residential OSM building without a
        ``households`` / ``building:flats`` tag holds footprint × levels ÷ this (at least 1).
        90 m² is a typical Chinese flat's gross floor area (building area, shared parts
        included).
    osm_default_levels
        Storeys of a residential OSM building without ``building:levels`` (a mid-rise
        compound block); other buildings without the tag count 1.
    osm_m2_per_parking_space
        Area of one space in a surface car park (aisles included): an OSM car park drawn as an
        area without a ``capacity`` tag holds its area ÷ this.
    osm_admin_levels
        OSM ``admin_level`` values read as community boundaries when ``new`` gets no
        communities file (in China 8 = town/street, 10 = village/community); the highest level
        present is used.
    persons_per_household
        Population per household where a community file gives none (China's 2020 census:
        2.62).
    new_area_buffer_m
        Without community boundaries ``new`` makes one community: the convex hull of the
        buildings widened by this many metres.
    """

    households_per_grid: int = 300
    sentinel_max_households: int = 500
    member_max_buildings: int = 20
    suggestions_per_gap: int = 3
    suggestion_max_distance_m: float = 3000.0
    metric_crs: str | None = None
    tiling_tolerance_m2: float = 1.0
    containment_tolerance_m: float = 0.5
    repair_max_area_change: float = 0.01
    as_of: str | None = None
    life_circle_m: tuple[int, ...] = (300, 500, 1000)
    walk_speed_m_per_min: float = 75.0
    parking_spaces_per_household: float = 0.8
    shared_parking_share: float = 0.5
    assignment_max_walk_m: float = 2000.0
    region_margin_km: float = 50.0
    max_import_rows: int = 500_000
    max_vertices_per_geometry: int = 100_000
    max_name_length: int = 200
    max_text_length: int = 5000
    max_login_failures: int = 5
    lockout_minutes: float = 15
    session_hours: float = 8
    session_idle_hours: float = 8.0
    min_password_length: int = 8
    osm_residential_buildings: tuple[str, ...] = (
        "residential", "apartments", "house", "dormitory", "detached", "semidetached_house",
        "terrace")
    osm_m2_per_household: float = 90.0
    osm_default_levels: int = 6
    osm_m2_per_parking_space: float = 25.0
    osm_admin_levels: tuple[int, ...] = (8, 9, 10)
    persons_per_household: float = 2.62
    new_area_buffer_m: float = 100.0
    extra: dict[str, object] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.households_per_grid <= 0:
            raise ValueError("households_per_grid must be positive")
        if self.sentinel_max_households <= 0:
            raise ValueError("sentinel_max_households must be positive")
        if self.suggestions_per_gap < 0:
            raise ValueError("suggestions_per_gap must be >= 0")
        if self.region_margin_km < 0:
            raise ValueError("region_margin_km must be >= 0")
        for name in ("max_import_rows", "max_vertices_per_geometry", "max_name_length",
                     "max_text_length", "max_login_failures", "lockout_minutes",
                     "session_hours", "session_idle_hours", "min_password_length",
                     "osm_m2_per_household", "osm_default_levels", "osm_m2_per_parking_space",
                     "persons_per_household"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


DEFAULT_SETTINGS = Settings()
