"""A small, unannotated module to try localtypes on: `localtypes annotate --diff examples/`."""

import json
import logging
from datetime import datetime
from pathlib import Path

logger = logging.getLogger(__name__)


class Item:
    def __init__(self, sku, name, price, count=0):
        self.sku = sku
        self.name = name
        self.price = price
        self.count = count
        self.updated = None

    def total(self):
        return self.price * self.count

    def is_available(self):
        return self.count > 0

    def restock(self, amount, when=None):
        self.count += amount
        self.updated = when or datetime.now()

    def __str__(self):
        return f"{self.name} ({self.sku})"


class Inventory:
    def __init__(self, path):
        self.path = path
        self.items = {}

    def add(self, item):
        self.items[item.sku] = item

    def get(self, sku):
        return self.items.get(sku)

    def skus(self):
        return sorted(self.items)

    def value(self):
        return sum(item.total() for item in self.items.values())

    def save(self, indent=2):
        data = {sku: vars(item) for sku, item in self.items.items()}
        self.path.write_text(json.dumps(data, indent=indent, default=str))
        logger.info("saved %d items to %s", len(data), self.path)


def load_inventory(path):
    inventory = Inventory(Path(path))
    for sku, fields in json.loads(Path(path).read_text()).items():
        inventory.add(Item(sku, fields["name"], float(fields["price"]), int(fields["count"])))
    return inventory


def parse_count(text, default=0):
    try:
        return int(text)
    except ValueError:
        return default


def format_price(price, currency="EUR", verbose=False):
    if verbose:
        return f"{price:.2f} {currency}"
    return f"{price:.2f}"
