"""Limits on scenario input: what a file may hold before it is parsed, and bounds on its numbers.

Scenario files arrive in pull requests and from other systems, so they are untrusted: a file must
not be able to hang `twin validate`, exhaust memory or crash a run with a value the model cannot
use. The parser limits (size, nesting, alias expansion, string length) bound the work of reading a
file at all; the field bounds are sanity ceilings far above any real network, chosen so that the
arithmetic of a run stays finite and within 64-bit integers. They are per field only: the work a
whole scenario asks for (orders × horizon × replications) is checked apart.

Every limit is a named constant here so that the loader, `--set` values and `variants:` (see
`twin.experiments.overrides`) and the schema all apply the same ones, and the messages can state them.
"""

from __future__ import annotations

# --- reading a file ----------------------------------------------------------------------------

MAX_FILE_BYTES = 5 * 1024 * 1024
"""Largest scenario file read (5 MiB), checked before reading. Real scenarios are a few kilobytes;
this bounds the memory and parse time of `validate` on any file (a 50 MB file took 248 s)."""

MAX_DEPTH = 40
"""Deepest nesting of mappings and lists (an alias counts at the depth it is used). A scenario
nests about 7 deep; Python's recursion limit (1000) would otherwise be the ceiling."""

MAX_NODES = 50_000
"""Most YAML nodes (keys, values, items) a file may expand to, every use of an alias counted
with the whole subtree it stands for. Stops "billion laughs" files: 1 KB of nested anchors that
expand to gigabytes. The largest bundled scenario has about 1,600; composing 50,000 takes about
half a second (two without libyaml), and validating them a few seconds."""

MAX_STRING_CHARS = 10_000
"""Longest text value (characters); ids and keys have the tighter `MAX_ID_CHARS`."""

MAX_ID_CHARS = 100
"""Longest id or mapping key (a SKU, site, lane end, policy, livestream name ...): ids become
file names, CSV cells and seeds of random streams."""

MAX_INT_DIGITS = 30
"""Most digits of a whole number as written in a file; Python refuses to convert more than 4300
and no field needs more than 19 (64-bit)."""

# --- bounds of fields --------------------------------------------------------------------------

MAX_NUMBER = 1e15
"""Ceiling on the magnitude of any number in a file (the parser checks it): far above every
field's own bound, below 2**53 so that whole numbers survive a float round trip."""

MAX_HOURS = 1_000_000.0
"""Longest duration (hours, about 114 years): horizons, lead times, review periods, promises.
Calendar times (`start` + hours) must stay within Python's datetime range."""

MAX_RATE = 1_000_000.0
"""Most units or orders per hour of one rate (demand, a factory line, a pick/pack worker, a
supplier's daily capacity): 10**6 per hour keeps counts over `MAX_HOURS` within 64 bits."""

MAX_UNITS = 10**12
"""Most units of one count: stock levels, capacities per departure or vehicle, contracted units."""

MAX_SERVERS = 10_000
"""Most parallel servers of one resource (pick/pack workers, inspectors): each is a process."""

MAX_VEHICLES = 1_000
"""Most vehicles of one fleet: the router builds a model per vehicle (10**6 aborts OR-Tools)."""

MAX_SOLVER_SECONDS = 3_600.0
"""Longest routing solver time per wave (seconds)."""

MAX_MONEY = 1e12
"""Largest money amount of one price, fee or rate; totals over a run stay finite."""

MAX_WEIGHT = 1e6
"""Largest relative weight or share (region and station weights, SKU mix, audience, seasonality
multipliers): weights are summed and divided, so one of 1e308 turns the others into 0 or NaN."""

MAX_MULTIPLIER = 10_000.0
"""Largest demand multiplier (a livestream's uplift p50/p90) or lead-time factor."""

MAX_ORDER_SIZE = 1e6
"""Largest mean units per order line (`order_size_mean`)."""

MAX_CV = 100.0
"""Largest coefficient of variation of a distribution (gamma/log-normal shapes underflow past it)."""

MAX_COORDINATE = 1e6
"""Largest magnitude of a location coordinate (km on the planar map)."""

MAX_SEED = 2**63 - 1
"""Largest seed: seeds are stored and compared as signed 64-bit integers."""

MAX_RATE_KMH = 10_000.0
"""Fastest vehicle speed (km/h)."""

MAX_VARIANTS = 100
"""Most designs in a file's `variants:` map: each is copied and validated as a whole scenario."""
