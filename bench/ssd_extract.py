"""Write a made-up Standard Safeguarding Dataset extract (SSD field names) for tests and the
bench: `write_extract(folder, children=N, seed=S, today=D)`. Every name is fake; NHS numbers
are in the 999 range NHS England keeps for testing, with a valid check digit."""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path

from ssd.importer import FIELDS


def nhs_number(n: int) -> str:
    """A valid made-up NHS number, distinct for each n below a million (999 prefix, or 998,
    997... when 999's check digit would be 10, which is never issued)."""
    for prefix in range(999, 900, -1):
        body = f"{prefix}{n % 1_000_000:06d}"
        total = sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True))
        check = (11 - total % 11) % 11
        if check != 10:
            return body + str(check)
    raise ValueError(n)


def rows(children: int, *, seed: int, today: date) -> dict[str, list[dict[str, str]]]:
    rng = random.Random(seed)
    out: dict[str, list[dict[str, str]]] = {t: [] for t in FIELDS}
    out["ssd_professionals"] = [
        {
            "prof_professional_id": f"P{n}",
            "prof_staff_id": f"sw{n}",
            "prof_professional_name": f"Worker {n} Exampleton",
        }
        for n in range(1, 41)
    ]
    miss_id = 0
    for n in range(1, children + 1):
        pid = f"SSD{n:07d}"
        dob = today - timedelta(days=rng.randint(8 * 365, 17 * 365))
        out["ssd_person"].append(
            {
                "pers_person_id": pid,
                "pers_sex": rng.choice("FMFMU"),
                "pers_dob": dob.isoformat(),
                "pers_common_child_id": nhs_number(n) if n % 3 else "",
            }
        )
        status = n % 10  # 0-2 looked after, 3 CP plan, 4-5 CIN, the rest none
        start = today - timedelta(days=rng.randint(400, 1500))
        if status <= 2:
            out["ssd_cla_episodes"].append(
                {
                    "clae_cla_episode_id": f"CLA{n}",
                    "clae_person_id": pid,
                    "clae_cla_episode_start_date": start.isoformat(),
                    "clae_cla_episode_ceased": "",
                }
            )
        elif status == 3:
            out["ssd_cp_plans"].append(
                {
                    "cppl_cp_plan_id": f"CP{n}",
                    "cppl_person_id": pid,
                    "cppl_cp_plan_start_date": start.isoformat(),
                    "cppl_cp_plan_end_date": "",
                }
            )
        elif status <= 5:
            out["ssd_cin_episodes"].append(
                {
                    "cine_referral_id": f"CIN{n}",
                    "cine_person_id": pid,
                    "cine_referral_date": start.isoformat(),
                    "cine_close_date": (start + timedelta(days=200)).isoformat(),
                }
            )
        if status <= 5:
            out["ssd_involvements"].append(
                {
                    "invo_involvements_id": f"I{n}",
                    "invo_person_id": pid,
                    "invo_professional_id": f"P{rng.randint(1, 40)}",
                    "invo_professional_team": rng.choice(
                        ["Children in Care 1", "Child Protection East"]
                    ),
                    "invo_involvement_start_date": start.isoformat(),
                    "invo_involvement_end_date": "",
                }
            )
        # Looked-after children go missing more; some are repeat runners.
        episodes = rng.choice([0, 0, 0, 1, 1, 2, 4]) if status <= 2 else rng.choice([0, 0, 0, 0, 1])
        at = today - timedelta(days=360)
        for _ in range(episodes):
            at += timedelta(days=rng.randint(3, 60))
            back = at + timedelta(days=rng.randint(1, 3))
            if back >= today:
                break
            offered = rng.random() < 0.8
            accepted = offered and rng.random() < 0.7
            miss_id += 1
            out["ssd_missing"].append(
                {
                    "miss_table_id": f"M{miss_id}",
                    "miss_la_person_id": pid,
                    "miss_mis_epi_start": f"{at.isoformat()} 21:00",
                    "miss_mis_epi_type": rng.choice("MMMA"),
                    "miss_mis_epi_end": f"{back.isoformat()} 09:00",
                    "miss_mis_epi_rhi_offered": "Yes" if offered else "No",
                    "miss_mis_epi_rhi_accepted": ("Yes" if accepted else "No") if offered else "",
                }
            )
            at = back + timedelta(days=1)
    return out


PROVIDERS = ("Oakfield Children's Home", "Brightpath Fostering", "Council foster carers")
DISTRICTS = ("LS1 4AP", "LS6 2QT", "BD7 1DP", "HX1 1UJ", "WF1 2EB")


def add_placements_and_identifiers(
    tables: dict[str, list[dict[str, str]]], *, seed: int, today: date
) -> None:
    """Add ssd_cla_placement rows (a past and a current placement for each looked-after child)
    and ssd_linked_identifiers rows (a UPN for every child, a former id for some) to `tables`,
    with a random stream of their own so rows() stays as it was."""
    rng = random.Random(seed + 1)
    for n, episode in enumerate(tables["ssd_cla_episodes"], 1):
        pid = episode["clae_person_id"]
        start = date.fromisoformat(episode["clae_cla_episode_start_date"])
        moved = start + timedelta(days=rng.randint(30, 300))
        for m, (begin, end) in enumerate(((start, moved), (moved, None)), 1):
            tables["ssd_cla_placement"].append(
                {
                    "clap_cla_placement_id": f"PL{n}-{m}",
                    "clap_person_id": pid,
                    "clap_cla_placement_start_date": begin.isoformat(),
                    "clap_cla_placement_provider": rng.choice(PROVIDERS),
                    "clap_cla_placement_postcode": rng.choice(DISTRICTS),
                    "clap_cla_placement_end_date": end.isoformat() if end else "",
                }
            )
    for n, person in enumerate(tables["ssd_person"], 1):
        pid = person["pers_person_id"]
        tables["ssd_linked_identifiers"].append(
            {
                "link_table_id": f"L{n}",
                "link_person_id": pid,
                "link_identifier_type": "UPN",
                "link_identifier_value": f"A{n:012d}",
                "link_valid_from_date": "",
                "link_valid_to_date": "",
            }
        )
        if n % 7 == 0:
            tables["ssd_linked_identifiers"].append(
                {
                    "link_table_id": f"L{n}-F",
                    "link_person_id": pid,
                    "link_identifier_type": "Former ID",
                    "link_identifier_value": f"OLD{n:07d}",
                    "link_valid_from_date": "",
                    "link_valid_to_date": (today - timedelta(days=400)).isoformat(),
                }
            )


def write_tables(folder: Path, tables: dict[str, list[dict[str, str]]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for table, table_rows in tables.items():
        with (folder / f"{table}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=FIELDS[table])
            writer.writeheader()
            writer.writerows(table_rows)


def write_extract(
    folder: Path, *, children: int, seed: int, today: date, placements: bool = False
) -> None:
    """`placements`: add placements and linked identifiers too (the bench does)."""
    tables = rows(children, seed=seed, today=today)
    if placements:
        add_placements_and_identifiers(tables, seed=seed, today=today)
    write_tables(folder, tables)
