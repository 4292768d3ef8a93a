"""Another small typed module for the training smoke test."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Dict, List, Optional

logger = logging.getLogger(__name__)


class Item:
    def __init__(self, sku: str, price: float, count: int = 0) -> None:
        self.sku = sku
        self.price = price
        self.count = count
        self.updated: Optional[datetime] = None

    def total(self) -> float:
        return self.price * self.count

    def restock(self, amount: int, when: datetime) -> None:
        self.count += amount
        self.updated = when


class Inventory:
    def __init__(self) -> None:
        self.items: Dict[str, Item] = {}

    def add(self, item: Item) -> None:
        self.items[item.sku] = item

    def get(self, sku: str) -> Optional[Item]:
        return self.items.get(sku)

    def skus(self) -> List[str]:
        return sorted(self.items)

    def value(self) -> float:
        return sum(item.total() for item in self.items.values())

    def has(self, sku: str) -> bool:
        return sku in self.items

    def log_summary(self, prefix: str = "") -> None:
        logger.info("%s%d items", prefix, len(self.items))


def parse_count(text: str, default: int = 0) -> int:
    try:
        return int(text)
    except ValueError:
        return default
