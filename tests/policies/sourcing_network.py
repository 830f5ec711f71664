"""The two-warehouse, two-region network the sourcing and dispatch policy tests decide on."""

from twin.state import CarrierInfo, NetworkInfo

FAST = CarrierInfo("fast", 10.0, 4.0, 1.0)
SLOW = CarrierInfo("slow", 20.0, 1.5, 0.5, wave_every=4.0)
ROAD = CarrierInfo("road", 30.0, 0.5, 0.5)
NET = NetworkInfo(
    skus=("a",),
    warehouses=("c", "n"),
    central=("c",),
    forward=("n",),
    factories=(),
    source_of={"n": "c"},
    regions=("r", "q"),
    serving={"r": ("n", "c"), "q": ("c",)},
    last_mile={"n": {"r": (SLOW, FAST)}, "c": {"r": (ROAD,), "q": (ROAD,)}},
    sla={"r": 48.0, "q": 72.0},
    pick_time={"n": 0.5, "c": 0.5},
)
