"""Writes gsm8k_sample.jsonl and hellaswag_sample.jsonl (deterministic; run to refresh).

python -m sglang_ci.data.make_samples
"""

from __future__ import annotations

import json
import random

from sglang_ci.data import GSM8K_SAMPLE, HELLASWAG_SAMPLE

NAMES = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivo", "Jun"]
ITEMS = ["apples", "stickers", "marbles", "pencils", "cookies", "stamps", "shells", "books"]


def gsm8k_item(rng: random.Random, index: int) -> dict[str, str]:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    kind = index % 4
    if kind == 0:
        a, b, c = rng.randint(3, 40), rng.randint(2, 30), rng.randint(1, 9)
        total = a + b - c
        question = (
            f"{name} has {a} {item}. A friend gives {name} {b} more, and then {name}"
            f" gives away {c}. How many {item} does {name} have now?"
        )
        work = f"{a} + {b} = {a + b}. {a + b} - {c} = {total}."
    elif kind == 1:
        boxes, per, price = rng.randint(2, 12), rng.randint(3, 24), rng.randint(2, 9)
        total = boxes * per * price
        question = (
            f"A shop sells {item} in boxes of {per}. {name} buys {boxes} boxes and each"
            f" of the {item} costs ${price}. How many dollars does {name} spend?"
        )
        work = f"{boxes} * {per} = {boxes * per} {item}. {boxes * per} * {price} = {total:,}."
    elif kind == 2:
        start, weekly, weeks = rng.randint(100, 900), rng.randint(50, 400), rng.randint(3, 12)
        total = start + weekly * weeks
        question = (
            f"{name} has ${start} saved and adds ${weekly} every week. How much money"
            f" does {name} have after {weeks} weeks?"
        )
        work = f"{weekly} * {weeks} = {weekly * weeks:,}. {start} + {weekly * weeks:,} = {total:,}."
    else:
        people, share = rng.randint(2, 8), rng.randint(4, 15)
        total = share
        question = (
            f"{name} shares {people * share} {item} equally among {people} friends."
            f" How many {item} does each friend get?"
        )
        work = f"{people * share} / {people} = {share}."
    return {"question": question, "answer": f"{work}\n#### {total:,}"}


ACTIVITIES = [
    (
        "Making coffee",
        "A person fills a kettle with water and sets it on the stove. They",
        [
            "pour the hot water over ground coffee in a filter and let it drip into a mug.",
            "throw the kettle into a swimming pool and dive in after it.",
            "paint the kettle bright red and hang it on the wall as art.",
            "read the newspaper to the kettle until it falls asleep.",
        ],
    ),
    (
        "Washing a car",
        "A man parks his car in the driveway and fills a bucket with soapy water. He",
        [
            "scrubs the doors with a sponge and rinses the soap off with a hose.",
            "pours the bucket into the fuel tank and drives off to work.",
            "starts knitting a sweater for the car's steering wheel.",
            "plants tomato seeds in the bucket and waits for them to grow.",
        ],
    ),
    (
        "Tying shoes",
        "A child sits on the steps and pulls the laces of a sneaker tight. The child",
        [
            "crosses the laces, loops them into bows and pulls the knot snug.",
            "eats the laces one by one while humming a song.",
            "mails the sneaker to a friend in another country.",
            "climbs onto the roof and throws the sneaker at the moon.",
        ],
    ),
    (
        "Baking bread",
        "A woman kneads dough on a floured counter and places it in a bowl. She",
        [
            "covers the bowl with a towel and lets the dough rise before baking it.",
            "uses the dough as a pillow and takes a long nap on the counter.",
            "feeds the dough to the goldfish and cleans the tank.",
            "paints a portrait of the bowl and sells it at an auction.",
        ],
    ),
    (
        "Playing guitar",
        "A musician tunes the strings of an acoustic guitar on a small stage. He",
        [
            "strums a few chords and begins to sing into the microphone.",
            "fills the guitar with soup and serves it to the audience.",
            "uses the guitar as a paddle to row across the stage.",
            "buries the guitar in the garden and waters it daily.",
        ],
    ),
]


def hellaswag_items(rng: random.Random, count: int) -> list[dict[str, object]]:
    items = []
    for index in range(count):
        label, ctx, endings = ACTIVITIES[index % len(ACTIVITIES)]
        variant = f" (take {index // len(ACTIVITIES) + 1})"
        gold = rng.randrange(4)
        shuffled = endings[1:]
        rng.shuffle(shuffled)
        ordered = [*shuffled[:gold], endings[0], *shuffled[gold:]]
        items.append(
            {
                "ind": index,
                "activity_label": label + variant,
                "ctx": ctx,
                "endings": ordered,
                "label": gold,
            }
        )
    return items


def main() -> None:
    rng = random.Random(20261122)
    with GSM8K_SAMPLE.open("w", encoding="utf-8") as handle:
        for index in range(60):
            handle.write(json.dumps(gsm8k_item(rng, index)) + "\n")
    with HELLASWAG_SAMPLE.open("w", encoding="utf-8") as handle:
        for item in hellaswag_items(rng, 45):
            handle.write(json.dumps(item) + "\n")


if __name__ == "__main__":
    main()
