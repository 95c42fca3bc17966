"""Synthetic but plausible Chinese names: places, people and mobile numbers, drawn from a seeded generator.

Every name is built from parts, so nothing here names a real person; place
names read like Hangzhou's (西溪街道, 翠苑社区, 桃源村) without copying its list.
All characters are in GBK, so any of them can go into a GBK-encoded feed.

Examples
--------
>>> rng = np.random.default_rng(1)
>>> len(place_names(rng, 5, "街道")), place_names(rng, 1, "社区")[0].endswith("社区")
(5, True)
>>> all(len(p) == 11 and p[0] == "1" for p in phones(rng, 3))
True
"""

from __future__ import annotations

import numpy as np

# The commonest surnames, most frequent first (so a Zipf weight is realistic).
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任"
                "沈姚卢姜崔钟谭陆汪范金石廖贾夏韦傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华慧建国红玲峰波辉鹏宇浩晨欣怡婷雪琳佳俊杭浙越"
             "梅兰竹菊海燕飞燕志文斌斌晓东晓燕丹丹亮新春秋荣德永福庆祥瑞嘉琪子涵一鸣")
PLACE_FIRST = list("东西南北新古翠文丁湖凤白长清和安宁兴华春江岳良闲九三五半石桃杨梅枫竹桂荷兰云霞月星金银玉龙"
                   "鹿鸣乔义仁德惠康乐福庆瑞祥泰永平定松柏桑麻花茶溪塘潮")
PLACE_SECOND = list("溪塘桥山湖浦港墩岭坞埠林苑园里湾河庄坝畈渡岙岗坪洲潭泾口门亭阁堂源阳泉川岸滨坊巷")
MOBILE_PREFIXES = ("13", "15", "17", "18", "19")


def _zipf(n: int) -> np.ndarray:
    weight = 1.0 / np.arange(1, n + 1) ** 0.8
    return weight / weight.sum()


def person_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` synthetic full names: a common surname and one or two given characters."""
    surname = np.array(SURNAMES, dtype=object)[rng.choice(len(SURNAMES), n, p=_zipf(len(SURNAMES)))]
    given = np.array(GIVEN, dtype=object)
    first = given[rng.integers(0, len(GIVEN), n)]
    second = np.where(rng.random(n) < 0.6, given[rng.integers(0, len(GIVEN), n)], "")
    return surname + first + second


def phones(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` synthetic 11-digit mainland mobile numbers (13x, 15x, 17x, 18x, 19x)."""
    prefix = np.array(MOBILE_PREFIXES, dtype=object)[rng.integers(0, len(MOBILE_PREFIXES), n)]
    digits = rng.integers(0, 10**9, n)
    return prefix + np.char.zfill(digits.astype(str), 9).astype(object)


def place_names(rng: np.random.Generator, n: int, suffix: str, taken: set[str] | None = None) -> list[str]:
    """``n`` distinct two-character place names with ``suffix`` (街道, 镇, 社区, 村 …), none in ``taken``.

    Parameters
    ----------
    rng : numpy.random.Generator
    n : int
    suffix : str
    taken : set of str, optional
        Stems already used nearby; the names returned are added to it.

    Returns
    -------
    list of str
    """
    taken = set() if taken is None else taken
    stems = [a + b for a in PLACE_FIRST for b in PLACE_SECOND if a != b]
    order = rng.permutation(len(stems))
    out = []
    for k in order:
        if stems[k] not in taken:
            taken.add(stems[k])
            out.append(stems[k] + suffix)
            if len(out) == n:
                break
    if len(out) < n:  # more units than two-character stems: number the rest
        out += [f"{stems[order[i % len(order)]]}{i // len(order) + 2}{suffix}" for i in range(n - len(out))]
    return out
