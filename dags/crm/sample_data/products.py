"""The product catalogue: SKUs with Chinese names, categories, list prices, unit costs, return rates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crm.sample_data.scripts import Script, convert_many, is_big5


@dataclass(frozen=True)
class Category:
    code: str
    name: str  # Traditional Chinese
    popularity: float
    median_price: float
    margin: float
    return_rate: float
    business_share: float  # how much more enterprise/government buyers favour it
    kinds: tuple[str, ...]


CATEGORIES: tuple[Category, ...] = (
    Category(
        "HA",
        "家電",
        0.16,
        3200,
        0.24,
        0.04,
        1.2,
        ("電風扇", "空氣清淨機", "除濕機", "吸塵器", "電子鍋", "氣炸鍋", "咖啡機", "電暖器"),
    ),
    Category(
        "EL",
        "3C周邊",
        0.18,
        900,
        0.33,
        0.06,
        1.3,
        ("藍牙耳機", "行動電源", "無線滑鼠", "機械鍵盤", "充電線", "隨身碟", "網路攝影機"),
    ),
    Category(
        "KT", "廚具", 0.12, 650, 0.45, 0.03, 0.6, ("不沾鍋", "保溫杯", "刀具組", "砧板", "便當盒", "炒鍋")
    ),
    Category(
        "HF", "保健食品", 0.14, 900, 0.55, 0.01, 0.4, ("綜合維他命", "魚油", "益生菌", "葉黃素", "膠原蛋白")
    ),
    Category(
        "BE", "美妝保養", 0.12, 680, 0.60, 0.02, 0.2, ("精華液", "面膜", "防曬乳", "洗面乳", "保濕乳液")
    ),
    Category(
        "AP", "服飾配件", 0.10, 790, 0.55, 0.09, 0.3, ("排汗衫", "防風外套", "機能襪", "棒球帽", "後背包")
    ),
    Category(
        "OF",
        "辦公用品",
        0.08,
        240,
        0.30,
        0.015,
        4.0,
        ("影印紙", "原子筆", "資料夾", "碳粉匣", "計算機", "白板"),
    ),
    Category(
        "HL", "居家生活", 0.10, 560, 0.50, 0.04, 0.8, ("記憶枕", "涼被", "收納箱", "毛巾組", "香氛蠟燭")
    ),
)
BRANDS = ("禾豐", "米樂", "悅家", "日光", "青松", "藍海", "金葉", "福星", "樂活", "簡約", "山嵐", "晴川")
VARIANTS = ("", "標準版", "豪華版", "Pro", "Mini", "二代", "黑色", "白色", "大容量", "家庭號")


@dataclass
class Catalogue:
    """Products (index = position), grouped by category in order."""

    sku: list[str]
    name: list[str]  # Traditional Chinese
    name_simplified: list[str]
    category: np.ndarray  # int index into CATEGORIES
    list_price: np.ndarray  # float, whole dollars
    unit_cost: np.ndarray  # float, two decimals
    popularity: np.ndarray  # share of sales within the category (sums to 1 per category)

    def __len__(self) -> int:
        return len(self.sku)

    @property
    def return_rate(self) -> np.ndarray:
        return np.array([CATEGORIES[c].return_rate for c in self.category])

    def draw(self, rng: np.random.Generator, category: np.ndarray) -> np.ndarray:
        """One product per entry of ``category``, by popularity within the category.

        Products are stored category by category and popularity sums to 1 within a category, so
        category c covers (c, c + 1] of the cumulative popularity.
        """
        cumulative = np.cumsum(self.popularity)
        first = np.searchsorted(self.category, np.arange(len(CATEGORIES)), side="left")
        last = np.searchsorted(self.category, np.arange(len(CATEGORIES)), side="right") - 1
        product = np.searchsorted(cumulative, category + rng.random(len(category)), side="right")
        return np.clip(product, first[category], last[category])

    def promo_prices(self) -> np.ndarray:
        """(n_products, 3): list price, ~10% off and ~20% off, rounded to whole tens."""
        levels = np.array([1.0, 0.9, 0.8])
        promo = np.round(self.list_price[:, None] * levels[None, :] / 10) * 10
        promo[:, 0] = self.list_price
        return np.maximum(promo, 10)


def _shop_price(x: np.ndarray) -> np.ndarray:
    """Round to prices shops use: 99, 490, 1,280, 12,900."""
    x = np.maximum(x, 30)
    step = np.where(x < 100, 1, np.where(x < 1000, 10, np.where(x < 10000, 10, 100)))
    price = np.round(x / step) * step
    return np.where((price < 1000) & (price % 100 == 0), price - 10, price)


def build_catalogue(seed: int, per_category: int = 30) -> Catalogue:
    rng = np.random.default_rng([seed, 2])
    sku: list[str] = []
    names: list[str] = []
    category: list[int] = []
    prices: list[float] = []
    margins: list[float] = []
    popularity: list[float] = []
    seen: set[str] = set()
    for c, cat in enumerate(CATEGORIES):
        kinds = rng.permutation(len(cat.kinds))
        pop = 1.0 / np.arange(1, per_category + 1) ** 1.1  # Zipf within the category
        pop = pop[rng.permutation(per_category)]
        for k in range(per_category):
            while True:
                kind = (
                    cat.kinds[kinds[k % len(kinds)]]
                    if k < len(kinds)
                    else cat.kinds[rng.integers(len(cat.kinds))]
                )
                brand = BRANDS[rng.integers(len(BRANDS))]
                variant = VARIANTS[rng.integers(len(VARIANTS))]
                name = f"{brand} {kind} {variant}".strip()
                if name not in seen:
                    break
            seen.add(name)
            sku.append(f"{cat.code}-{1000 + 7 * k + c:04d}")
            names.append(name)
            category.append(c)
            prices.append(float(cat.median_price * rng.lognormal(0, 0.55)))
            margins.append(float(np.clip(rng.normal(cat.margin, 0.08), 0.05, 0.8)))
            popularity.append(float(pop[k] / pop.sum()))
    if np.any(np.diff(category) < 0):
        raise AssertionError("products must be stored category by category")
    list_price = _shop_price(np.array(prices))
    unit_cost = np.round(list_price * (1 - np.array(margins)), 2)
    bad = [n for n in names if not is_big5(n)]
    if bad:
        raise ValueError(f"product names not Big5-encodable: {bad}")
    return Catalogue(
        sku=sku,
        name=names,
        name_simplified=convert_many(names, Script.SIMPLIFIED),
        category=np.array(category),
        list_price=list_price,
        unit_cost=unit_cost,
        popularity=np.array(popularity),
    )
