"""Salesforce-shaped demo leads built from real US ZIP centroids (data/us_zip_sample.csv)."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from importlib import resources

from territory_router.domain.ids import to_18
from territory_router.domain.leads import Lead

FIRST = ["Ada", "Grace", "Alan", "Katherine", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances",
         "Tim", "Radia", "Vint", "Hedy", "Sophie", "Juan", "María", "Wei", "Priya", "Omar"]
LAST = ["Lovelace", "Hopper", "Turing", "Johnson", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson",
        "Allen", "Berners-Lee", "Perlman", "Cerf", "Lamarr", "Wilson", "García", "Martínez", "Zhang", "Patel", "Haddad"]
COMPANY = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", "Wayne Enterprises", "Tyrell",
           "Cyberdyne", "Soylent", "Vandelay Industries", "Wonka", "Aperture", "Massive Dynamic"]
INDUSTRY = ["Technology", "Healthcare", "Manufacturing", "Retail", "Finance", "Education", "Energy"]
SOURCE = ["Web", "Partner Referral", "Trade Show", "Advertisement", "Phone Inquiry"]


@dataclass(frozen=True)
class Zip:
    code: str
    city: str
    state: str
    lat: float
    lon: float
    kind: str


def load_zips() -> list[Zip]:
    text = resources.files("territory_router_tools.data").joinpath("us_zip_sample.csv").read_text()
    return [
        Zip(r["zip_code"], r["city"], r["state"], float(r["lat"] or 0), float(r["lon"] or 0), r["zip_code_type"])
        for r in csv.DictReader(text.splitlines())
    ]


def demo_lead_id(n: int) -> str:
    return to_18(f"00QDm0{n:09d}")


def make_leads(count: int, seed: int) -> tuple[list[Lead], dict[str, str]]:
    """``count`` leads and, per lead id, the kind of geography it carries (for the demo's summary)."""
    rng = random.Random(seed)
    zips = [z for z in load_zips() if z.state not in {"AA", "AE", "AP"}]
    military = [z for z in load_zips() if z.state in {"AA", "AE", "AP"}]
    leads: list[Lead] = []
    kinds: dict[str, str] = {}
    for i in range(count):
        roll = rng.random()
        z = rng.choice(military) if (roll < 0.02 and military) else rng.choice(zips)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        company = rng.choice(COMPANY)
        lat, lon = z.lat, z.lon
        kind = "coordinates"
        postal, state, city = z.code, z.state, z.city
        if roll < 0.02:
            kind = "apo_fpo"  # (0, 0) as the ZIP data has it
        elif roll < 0.10:
            lat = lon = None
            kind = "postal_code_only"
        elif roll < 0.14:
            lat = lon = None
            postal = None
            city = None
            kind = "state_only"
        elif roll < 0.15:
            lat, lon = lon, lat
            kind = "swapped"
        lead_id = demo_lead_id(i + 1)
        leads.append(
            Lead(
                lead_id=lead_id,
                first_name=first,
                last_name=last,
                company=f"{company} {z.city.title()}",
                email=f"{first.lower()}.{last.lower()}@example.com".replace("í", "i").replace("á", "a"),
                phone=f"+1 555 01{rng.randint(0, 99):02d}",
                street=f"{rng.randint(1, 9999)} Main Street",
                city=city.title() if city else None,
                state=state,
                postal_code=postal,
                country="US",
                latitude=lat,
                longitude=lon,
                industry=rng.choice(INDUSTRY),
                lead_source=rng.choice(SOURCE),
                status="Open - Not Contacted",
                language="Spanish" if state == "PR" and rng.random() < 0.6 else None,
            )
        )
        kinds[lead_id] = kind
    return leads, kinds
